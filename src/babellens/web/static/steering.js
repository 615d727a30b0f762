// Steering playground: the same prompt unsteered and steered, side by side; start evaluations.
import { launchesJob, postJSON, showError } from "./api.js";

function parseLayers(text) {
  const layers = [];
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [lo, hi] = part.split("-").map(Number);
    for (let l = lo; l <= (Number.isFinite(hi) ? hi : lo); l++) layers.push(l);
  }
  return layers.length ? layers : null;
}

const form = document.getElementById("steer-form");
if (form) {
  const error = form.querySelector(".form-error");
  const result = document.getElementById("steer-result");
  const coef = form.elements.coefficient;
  const shown = document.getElementById("coef-value");
  const sync = () => { shown.textContent = coef.value; };
  coef.addEventListener("input", sync);
  sync();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    form.classList.add("loading");
    document.getElementById("steer-note").textContent = "Running (a built-in concept's vector is built the first time, which takes a little longer)…";
    try {
      const body = {
        prompt: form.elements.prompt.value,
        vector: form.elements.vector.value.trim(),
        coefficient: Number(coef.value),
        layers: parseLayers(form.elements.layers.value),
        max_new_tokens: Number(form.elements.max_new_tokens.value),
      };
      const answer = await postJSON(`/api/models/${form.elements.model.value}/steer`, body);
      result.querySelector(".plain").textContent = answer.plain;
      result.querySelector(".steered").textContent = answer.steered;
      const where = `layer${answer.layers.length > 1 ? "s" : ""} ${answer.layers.join(", ")}`;
      result.querySelector(".steered-title").textContent = `Steered: ${answer.vector.name} × ${answer.coefficient} at ${where}`;
      result.hidden = false;
      document.getElementById("steer-note").textContent = "";
    } catch (err) {
      showError(error, err.message);
      document.getElementById("steer-note").textContent = "";
    } finally {
      form.classList.remove("loading");
    }
  });
}

const evalForm = document.getElementById("eval-form");
if (evalForm) {
  launchesJob(evalForm, "/api/steering/evaluations", (f) => ({
    model: f.elements.model.value,
    vector: f.elements.vector.value.trim(),
    metric: f.elements.metric.value.trim(),
    coefficients: f.elements.coefficients.value.split(",").map(Number),
    prompts: Number(f.elements.prompts.value),
  }));
}
