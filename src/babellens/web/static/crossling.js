// Cross-lingual experiments: the launcher, and the report's charts (Plotly).
import { launchesJob } from "./api.js";
import { config, layout, palette } from "./plot.js";

const split = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

const form = document.getElementById("crossling-form");
if (form) {
  launchesJob(form, "/api/crossling/experiments", (f) => ({
    model: f.elements.model.value.trim(),
    train_langs: split(f.elements.train_langs.value),
    eval_langs: split(f.elements.eval_langs.value),
    prompts: Number(f.elements.prompts.value),
    max_new_tokens: Number(f.elements.max_new_tokens.value),
    steps: Number(f.elements.steps.value),
  }));
}

const extend = document.getElementById("extend-form");
if (extend) {
  launchesJob(extend, `/api/crossling/experiments/${extend.dataset.job}/extend`, (f) => ({
    train_langs: split(f.elements.train_langs.value),
  }));
}

const node = document.getElementById("crossling-data");
const report = node ? JSON.parse(node.textContent) : null;
if (report && window.Plotly) {
  const langs = report.config.eval_langs;
  const trains = report.config.train_langs.filter((t) => t in report.transfer);  // stored JSON may sort keys
  const heat = (z, x, y, zmin, zmax, colorscale, text) => ({
    type: "heatmap", z, x, y, zmin, zmax, colorscale, text, texttemplate: "%{text}",
    hovertemplate: "%{y} → %{x}: %{z:.2f}<extra></extra>", colorbar: { thickness: 10 },
  });
  const fmt = (v, d = 1) => (v === null || Number.isNaN(v) ? "–" : v.toFixed(d));

  const transferZ = trains.map((t) => langs.map((l) => report.transfer[t][l]));
  Plotly.newPlot("transfer-chart", [heat(transferZ, langs, trains.map((t) => `trained ${t}`), 0, 100, "Oranges",
    transferZ.map((row) => row.map((v) => fmt(v))))],
    { ...layout, margin: { ...layout.margin, l: 84, r: 24 }, xaxis: { title: { text: "evaluated in" } }, yaxis: { autorange: "reversed" } }, config);

  Plotly.newPlot("rates-chart", report.conditions.map((c, i) => ({
    type: "bar", name: c.condition, x: langs, y: langs.map((l) => c.rates[l].mean),
    error_y: { type: "data", symmetric: false, array: langs.map((l) => c.rates[l].high - c.rates[l].mean),
      arrayminus: langs.map((l) => c.rates[l].mean - c.rates[l].low) },
    marker: { color: i === 0 ? "#8a94a6" : palette[(i - 1) % palette.length] },
  })), { ...layout, barmode: "group", yaxis: { title: { text: `% ${report.config.behaviour}` }, range: [0, 100] },
    legend: { orientation: "h", y: 1.15 } }, config);

  const sim = report.similarity;
  if (sim) {
    const slider = document.getElementById("layer-slider");
    const shown = document.getElementById("layer-value");
    const draw = () => {
      const layer = sim.layers[Number(slider.value)];
      shown.textContent = layer;
      const text = (m) => m.map((row) => row.map((v) => v.toFixed(2)));
      Plotly.react("sim-chart", [heat(sim.cosine[layer], sim.langs, sim.langs, -1, 1, "RdBu", text(sim.cosine[layer]))],
        { ...layout, yaxis: { autorange: "reversed" } }, config);
      Plotly.react("control-chart", [heat(sim.control[layer], sim.langs, sim.langs, -1, 1, "RdBu", text(sim.control[layer]))],
        { ...layout, yaxis: { autorange: "reversed" } }, config);
    };
    slider.addEventListener("input", draw);
    draw();
    const n = sim.langs.length;
    const offDiagonal = (m) => {
      let total = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) total += m[i][j];
      return total / Math.max(n * (n - 1), 1);
    };
    Plotly.newPlot("sim-layers-chart", [
      { type: "scatter", mode: "lines+markers", name: "mean cosine across languages", x: sim.layers,
        y: sim.layers.map((l) => offDiagonal(sim.cosine[l])), line: { color: "#e8730c" } },
      { type: "scatter", mode: "lines+markers", name: "shuffled-label control", x: sim.layers,
        y: sim.layers.map((l) => offDiagonal(sim.control[l])), line: { color: "#8a94a6", dash: "dot" } },
    ], { ...layout, xaxis: { title: { text: "layer" }, dtick: 1 }, yaxis: { title: { text: "cosine" }, range: [-0.2, 1] },
      legend: { orientation: "h", y: 1.15 } }, config);
  }

  if (report.steering.length) {
    const color = Object.fromEntries(langs.map((l, i) => [l, palette[i % palette.length]]));
    Plotly.newPlot("steer-chart", report.steering.map((c) => ({
      type: "scatter", mode: "lines+markers", name: `${c.lang}, ${c.vector_lang} vector`, x: c.coefficients,
      y: c.rates.map((r) => r.mean), line: { color: color[c.lang], dash: c.vector_lang === c.lang ? "solid" : "dot" },
      hovertemplate: `answers in ${c.lang}, ${c.vector_lang} vector ×%{x}: %{y:.1f}%<extra></extra>`,
    })), { ...layout, xaxis: { title: { text: "coefficient" } }, yaxis: { title: { text: `% ${report.config.behaviour}` }, range: [0, 100] },
      legend: { orientation: "h", y: 1.18 } }, config);
  }

  if (report.logit_lens.length) {
    const traces = [];
    report.logit_lens.forEach((lens, i) => {
      const x = lens.layers.map((l) => l.layer);
      traces.push({ type: "scatter", mode: "lines", name: `${lens.source}→${lens.target}: answer`, x,
        y: lens.layers.map((l) => l.p_target), line: { color: palette[i % palette.length] } });
      traces.push({ type: "scatter", mode: "lines", name: `${lens.source}→${lens.target}: English word`, x,
        y: lens.layers.map((l) => l.p_english), line: { color: palette[i % palette.length], dash: "dot" } });
    });
    Plotly.newPlot("lens-chart", traces, { ...layout, xaxis: { title: { text: "layer" }, dtick: 1 },
      yaxis: { title: { text: "probability" } }, legend: { orientation: "h", y: 1.2 } }, config);
  }
}
