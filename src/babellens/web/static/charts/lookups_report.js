// Context look-ups: explanation scores per group (0.5 is chance), ablation drops (absolute and relative) by head activity.
import { drawCharts, readCharts } from "../plot.js";

const chance = { type: "line", xref: "paper", x0: 0, x1: 1, y0: 0.5, y1: 0.5, line: { dash: "dot", color: "#8a94a6" } };
drawCharts(readCharts(), {
  "lookups-scores": { layout: { showlegend: false, yaxis: { range: [0, 1.05] }, shapes: [chance] } },
  "lookups-drops": { layout: { showlegend: false } },
  "lookups-relative-drops": { layout: { showlegend: false } },
});
