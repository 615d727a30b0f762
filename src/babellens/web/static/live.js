// Live prompt: per token, the most active neurons of one layer, linked to their pages.
import { el, formatNumber, neuronHref, postJSON, showError, visible } from "./api.js";

const form = document.getElementById("live-form");
const table = document.getElementById("live-result");
if (form) {
  const error = form.querySelector(".form-error");
  form.elements.model.addEventListener("change", () => {
    const option = form.elements.model.selectedOptions[0];
    form.elements.layer.max = Number(option.dataset.layers) - 1;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    const slug = form.elements.model.value;
    const body = {
      text: form.elements.text.value,
      layer: Number(form.elements.layer.value),
      k: Number(form.elements.k.value),
    };
    form.classList.add("loading");
    try {
      const trace = await postJSON(`/api/models/${slug}/top-neurons`, body);
      const peak = Math.max(...trace.activations.flat().map((n) => n.activation), 1e-9);
      const rows = trace.tokens.map((token, i) => {
        const cells = trace.activations[i].map((n) => {
          const link = el("a", { class: "chip", href: neuronHref(slug, trace.layer, n.neuron) });
          link.style.setProperty("--a", Math.max(0, Math.min(n.activation / peak, 1)).toFixed(3));
          link.append(el("b", {}, `${trace.layer}/${n.neuron}`), ` ${formatNumber(n.activation)}`);
          return link;
        });
        const tokenCell = el("code");
        tokenCell.textContent = visible(token);
        return el("tr", {}, el("td", { class: "muted" }, String(i)), el("td", {}, tokenCell), el("td", { class: "chips" }, ...cells));
      });
      table.tBodies[0].replaceChildren(...rows);
      table.hidden = false;
    } catch (err) {
      showError(error, err.message);
    } finally {
      form.classList.remove("loading");
    }
  });
}
