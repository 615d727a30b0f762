// The shared drawing primitives. A page's chart module (static/charts/PAGE.js) reads the charts
// of its page model from the page's one JSON blob and draws them with drawCharts: the numbers
// come from the server as they are, nothing is recomputed here.
export const layout = {
  margin: { l: 56, r: 60, t: 8, b: 56 },
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  font: { family: "system-ui, sans-serif", size: 12, color: "#3b4252" },
};
export const config = { displaylogo: false, responsive: true };
export const palette = ["#e8730c", "#3b6fd4", "#2a9d8f", "#b3261e", "#7b5ea7", "#8a6d3b", "#4c566a", "#d4a017"];
export const signColors = { positive: "#2563eb", negative: "#dc2626" };

// The page model's charts: <script type="application/json" id="chart-data">{"charts": [...]}.
export function readCharts(id = "chart-data") {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent).charts : [];
}

const diff = (a, b) => a.map((v, i) => (v === null || b[i] === null ? null : v - b[i]));

function errorBars(series) {
  if (!series.low || !series.high) return undefined;
  return { type: "data", symmetric: false, array: diff(series.high, series.y), arrayminus: diff(series.y, series.low), visible: true };
}

function trace(series, kind, i) {
  const color = series.color || palette[i % palette.length];
  const yaxis = series.axis === "y2" ? "y2" : "y";
  const drawn = series.kind || kind;
  if (drawn === "box") {
    return { type: "box", name: series.name, y: series.y, boxpoints: "all", jitter: 0.4, pointpos: 0, marker: { color } };
  }
  if (drawn === "bar") {
    return { type: "bar", name: series.name, x: series.x, y: series.y, yaxis, marker: { color }, error_y: errorBars(series) };
  }
  return {
    type: "scatter", mode: "lines+markers", name: series.name, x: series.x, y: series.y, yaxis,
    line: { color, dash: series.dash ? "dot" : "solid" }, error_y: errorBars(series),
  };
}

function heatmap(rows, options) {
  const digits = options.digits ?? 2;
  const text = rows.map((s) => s.y.map((v) => (v === null ? "–" : v.toFixed(digits))));
  return [{
    type: "heatmap", z: rows.map((s) => s.y), x: rows.length ? rows[0].x : [], y: rows.map((s) => s.name),
    zmin: options.zmin, zmax: options.zmax, colorscale: options.colorscale || "Oranges", text, texttemplate: "%{text}",
    hovertemplate: "%{y} → %{x}: %{z:.2f}<extra></extra>", colorbar: { thickness: 10 },
  }];
}

function chartLayout(chart, options) {
  const extra = options.layout || {};
  const base = {
    ...layout,
    // a box chart's x is the index of a value (the data table's column), not an axis to read
    xaxis: { ...(chart.kind === "box" ? {} : { title: { text: chart.x_label } }), ...(extra.xaxis || {}) },
    // a heatmap's rows are labelled by name; its y title would only crowd them
    yaxis: { ...(chart.kind === "heatmap" ? {} : { title: { text: chart.y_label } }), ...(extra.yaxis || {}) },
    showlegend: chart.kind !== "heatmap" && chart.series.length > 1,
    legend: { orientation: "h", y: 1.15 },
  };
  if (chart.y2_label) base.yaxis2 = { title: { text: chart.y2_label }, overlaying: "y", side: "right", ...(extra.yaxis2 || {}) };
  const { xaxis, yaxis, yaxis2, ...rest } = extra;
  return { ...base, ...rest };
}

// Draw one chart; options.frame picks the series of one slider position, options.traces(traces)
// may restyle what is drawn (colours per bar, hover text), never change a value.
export function drawChart(chart, options = {}) {
  if (!window.Plotly || !document.getElementById(chart.id)) return;
  const shown = chart.series.filter((s) => s.frame === null || s.frame === undefined || s.frame === options.frame);
  let traces = chart.kind === "heatmap" ? heatmap(shown, options) : shown.map((s, i) => trace(s, chart.kind, i));
  if (options.traces) traces = options.traces(traces);
  Plotly.react(chart.id, traces, chartLayout(chart, options), config);
  // the container is the image (role="img", its label and data table come from the page)
  document.querySelectorAll(`#${chart.id} svg`).forEach((svg) => svg.setAttribute("aria-hidden", "true"));
}

// The slider positions of a chart, in the order the server gave them.
export function framesOf(chart) {
  return [...new Set(chart.series.map((s) => s.frame).filter((f) => f !== null && f !== undefined))];
}

export function drawCharts(charts, options = {}) {
  for (const chart of charts) drawChart(chart, options[chart.id] || {});
}
