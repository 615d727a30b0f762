// Plotly charts (Plotly.js is served from the installed plotly package).
import { config, layout } from "./plot.js";

function readJSON(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

const hist = readJSON("hist-data");
if (hist && window.Plotly) {
  // bins: below edges[0], then [edges[i], edges[i+1]), then at or above the last edge
  const counts = hist.counts;
  const short = (x) => String(Number(x.toPrecision(2)));
  const labels = counts.map((_, i) => (i === 0 ? `<${short(hist.edges[0])}` : short(hist.edges[i - 1])));
  const used = counts.map((c, i) => (c > 0 ? i : -1)).filter((i) => i >= 0);
  const lo = used.length ? used[0] : 0;
  const hi = used.length ? used[used.length - 1] + 1 : counts.length;
  Plotly.newPlot("histogram", [{
    type: "bar", x: labels.slice(lo, hi), y: counts.slice(lo, hi),
    marker: { color: labels.slice(lo, hi).map((l) => (Number(l) > 0 ? "#e8730c" : "#8a94a6")) },
    hovertemplate: "from %{x}: %{y} tokens<extra></extra>",
  }], { ...layout, yaxis: { type: "log", title: { text: "tokens" } }, xaxis: { title: { text: "activation (bin start)" }, type: "category", tickangle: -60, tickfont: { size: 10 } } }, config);
}

const layers = readJSON("layer-data");
if (layers && window.Plotly) {
  const x = layers.map((l) => l.layer);
  Plotly.newPlot("layer-chart", [
    { type: "scatter", mode: "lines+markers", name: "mean max activation", x, y: layers.map((l) => l.mean_max), line: { color: "#e8730c" } },
    { type: "scatter", mode: "lines+markers", name: "mean density", x, y: layers.map((l) => l.mean_density), yaxis: "y2", line: { color: "#3b6fd4" } },
  ], { ...layout, xaxis: { title: { text: "layer" }, dtick: 1 }, yaxis: { title: { text: "mean max activation" } }, yaxis2: { title: { text: "density" }, overlaying: "y", side: "right", tickformat: ".1%" }, legend: { orientation: "h", y: 1.12 } }, config);
}

const evaluation = readJSON("eval-data");
if (evaluation && window.Plotly) {
  const points = evaluation.dose_response;
  const x = points.map((p) => p.coefficient);
  const axis = (text) => ({ title: { text } });
  Plotly.newPlot("dose-chart", [
    { type: "scatter", mode: "lines+markers", name: evaluation.vector.name, x, y: points.map((p) => p.mean),
      error_y: { type: "data", array: points.map((p) => p.std ?? 0), visible: true }, line: { color: "#e8730c" } },
    { type: "scatter", mode: "lines+markers", name: "random vector, same norm", x, y: points.map((p) => p.control_mean), line: { color: "#8a94a6", dash: "dot" } },
  ], { ...layout, xaxis: axis("coefficient"), yaxis: axis(evaluation.metric), legend: { orientation: "h", y: 1.15 } }, config);
  Plotly.newPlot("cost-chart", [
    { type: "scatter", mode: "lines+markers", name: "KL on neutral text", x, y: points.map((p) => p.kl), line: { color: "#3b6fd4" } },
    { type: "bar", name: "degenerate outputs", x, y: points.map((p) => p.degenerate), yaxis: "y2", marker: { color: "rgba(179,38,30,.35)" } },
  ], { ...layout, xaxis: axis("coefficient"), yaxis: axis("KL (nats)"), yaxis2: { title: { text: "degenerate" }, overlaying: "y", side: "right", tickformat: ".0%", range: [0, 1] }, legend: { orientation: "h", y: 1.15 } }, config);
  const sweep = Object.entries(evaluation.layer_sweep);
  Plotly.newPlot("sweep-chart", [
    { type: "bar", x: sweep.map(([l]) => Number(l)), y: sweep.map(([, v]) => v), marker: { color: "#e8730c" } },
  ], { ...layout, xaxis: { ...axis("layer steered alone"), dtick: 1 }, yaxis: axis(evaluation.metric) }, config);
  const effects = Object.entries(evaluation.per_prompt_effects).filter(([c]) => Number(c) !== 0);
  Plotly.newPlot("effects-chart", effects.map(([c, values]) => ({
    type: "box", name: `coef ${c}`, y: values, boxpoints: "all", jitter: 0.4, marker: { color: Number(c) > 0 ? "#e8730c" : "#3b6fd4" },
  })), { ...layout, yaxis: axis("change vs coefficient 0"), showlegend: false }, config);
}
