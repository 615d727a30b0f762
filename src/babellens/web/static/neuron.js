// "Test it": run a typed prompt and shade each token by this neuron's activation.
import { postJSON, showError, tokenSpans } from "./api.js";

const panel = document.getElementById("test-it");
if (panel) {
  const form = panel.querySelector("form");
  const result = panel.querySelector(".result");
  const error = panel.querySelector(".form-error");
  const { model, layer, neuron, scale } = panel.dataset;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    result.classList.add("loading");
    try {
      const text = form.elements.text.value;
      const trace = await postJSON(`/api/models/${model}/layers/${layer}/neurons/${neuron}/trace`, { text });
      const peak = Math.max(Number(scale), ...trace.activations.filter((a) => a !== null));
      result.replaceChildren(tokenSpans(trace.tokens, trace.activations, peak));
    } catch (err) {
      showError(error, err.message);
    } finally {
      result.classList.remove("loading");
    }
  });
}
