// Shared Plotly look: transparent backgrounds, the app's font, no logo; one palette for series.
export const layout = {
  margin: { l: 56, r: 60, t: 8, b: 56 },
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  font: { family: "system-ui, sans-serif", size: 12, color: "#3b4252" },
};
export const config = { displaylogo: false, responsive: true };
export const palette = ["#e8730c", "#3b6fd4", "#2a9d8f", "#b3261e", "#7b5ea7", "#8a6d3b", "#4c566a", "#d4a017"];
