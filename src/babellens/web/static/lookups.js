// Context look-up charts: explanation scores per group, ablation drops by head activity.
const layout = {
  margin: { l: 56, r: 20, t: 8, b: 40 },
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  font: { family: "system-ui, sans-serif", size: 12, color: "#3b4252" },
  showlegend: false,
};
const config = { displaylogo: false, responsive: true };
const node = document.getElementById("lookups-chart-data");
const data = node ? JSON.parse(node.textContent) : null;
if (data && window.Plotly) {
  const box = (name, y, color) => ({ type: "box", name, y, boxpoints: "all", jitter: 0.4, pointpos: 0, marker: { color } });
  Plotly.newPlot("lookups-scores", [
    box("next-token neurons", data.next_token, "#e8730c"),
    box("random neurons", data.random, "#8a94a6"),
  ], { ...layout, yaxis: { title: { text: "balanced accuracy" }, range: [0, 1.05] },
       shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 0.5, y1: 0.5, line: { dash: "dot", color: "#8a94a6" } }] }, config);
  Plotly.newPlot("lookups-drops", [
    box("head active", data.active, "#e8730c"),
    box("head inactive", data.inactive, "#3b6fd4"),
  ], { ...layout, yaxis: { title: { text: "drop in P(token)" } } }, config);
}
