// A cross-lingual report: transfer and cosine heatmaps (the layer slider picks the cosines'
// layer), rates, steering curves and the logit lens.
import { drawChart, drawCharts, framesOf, readCharts } from "../plot.js";

const charts = readCharts();
const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
const cosine = {
  colorscale: "RdBu", zmin: -1, zmax: 1,
  layout: { xaxis: { title: { text: "" } }, yaxis: { autorange: "reversed" } },
};
drawCharts(charts.filter((c) => !["sim-chart", "control-chart"].includes(c.id)), {
  "transfer-chart": {
    colorscale: "Oranges", zmin: 0, zmax: 100, digits: 1,
    layout: { margin: { l: 84, r: 24, t: 8, b: 56 }, yaxis: { autorange: "reversed" } },
  },
  "rates-chart": { layout: { barmode: "group", yaxis: { range: [0, 100] } } },
  "sim-layers-chart": { layout: { xaxis: { dtick: 1 }, yaxis: { range: [-0.2, 1] } } },
  "steer-chart": { layout: { yaxis: { range: [0, 100] }, legend: { orientation: "h", y: 1.18 } } },
  "lens-chart": { layout: { xaxis: { dtick: 1 }, legend: { orientation: "h", y: 1.2 } } },
});

const slider = document.getElementById("layer-slider");
if (slider && byId["sim-chart"]) {
  const frames = framesOf(byId["sim-chart"]);
  const shown = document.getElementById("layer-value");
  const draw = () => {
    const frame = frames[Number(slider.value)];
    shown.textContent = frame;
    drawChart(byId["sim-chart"], { ...cosine, frame });
    if (byId["control-chart"]) drawChart(byId["control-chart"], { ...cosine, frame });
  };
  slider.addEventListener("input", draw);
  draw();
}
