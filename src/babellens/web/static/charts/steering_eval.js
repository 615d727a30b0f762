// A steering evaluation: dose-response, cost, layer sweep and per-prompt effects.
import { drawCharts, readCharts } from "../plot.js";

drawCharts(readCharts(), {
  "cost-chart": { layout: { yaxis2: { tickformat: ".0%", range: [0, 1], tickmode: "auto", showgrid: false } } },
  "sweep-chart": { layout: { xaxis: { dtick: 1 } } },
  "effects-chart": { layout: { showlegend: false } },
});
