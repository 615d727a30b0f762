// Cross-lingual experiments: the launcher and the report's "add a language" form (the report's
// charts are static/charts/crossling_report.js).
import { launchesJob } from "./api.js";

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
