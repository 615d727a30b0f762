// Neuron and feature pages: the activation histogram (bins above zero in the accent colour).
import { drawCharts, readCharts } from "../plot.js";

drawCharts(readCharts(), {
  histogram: {
    layout: {
      yaxis: { type: "log" },
      xaxis: { type: "category", tickangle: -60, tickfont: { size: 10 } },
    },
    traces: (traces) => traces.map((t) => ({
      ...t,
      marker: { color: t.x.map((label) => (Number(label) > 0 ? "#e8730c" : "#8a94a6")) },
      hovertemplate: "from %{x}: %{y} tokens<extra></extra>",
    })),
  },
});
