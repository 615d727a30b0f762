// The graphs list: the "new graph" form queues a graph job and links to it.
import { el, postJSON } from "./api.js";

function newGraphForm(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const option = form.source.selectedOptions[0];
    const error = form.querySelector(".form-error");
    const status = document.getElementById("new-graph-status");
    error.hidden = true;
    try {
      const job = await postJSON("/api/graphs", {
        model: option.dataset.model, transcoders: option.dataset.transcoders, prompt: form.prompt.value,
      });
      status.hidden = false;
      status.replaceChildren("Queued as ", el("a", { href: `/jobs/${job.id}` }, `job ${job.id}`),
        "; its graph appears here when it is done.");
    } catch (exc) {
      error.textContent = exc.message;
      error.hidden = false;
    }
  });
}

const form = document.getElementById("new-graph");
if (form) newGraphForm(form);
