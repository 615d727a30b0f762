// The model page: mean max activation and density per layer.
import { drawCharts, readCharts } from "../plot.js";

drawCharts(readCharts(), {
  "layer-chart": { layout: { xaxis: { dtick: 1 }, yaxis2: { tickformat: ".1%" }, legend: { orientation: "h", y: 1.12 } } },
});
