// Jobs: start one from the home page, cancel, and follow progress over server-sent events.
import { formatNumber, postJSON, showError } from "./api.js";

function token() {
  const field = document.querySelector("#new-job [name=token]");
  return field ? field.value : sessionStorage.getItem("babellens-token");
}

function paint(bar, job) {
  const fraction = job.total ? job.done / job.total : job.status === "done" ? 1 : 0;
  bar.dataset.status = job.status;
  bar.querySelector(".bar").style.width = `${(100 * fraction).toFixed(1)}%`;
  bar.querySelector(".label").textContent = job.total ? `${job.status} · ${job.done}/${job.total}` : job.status;
  bar.setAttribute("aria-valuemax", String(job.total || 1));  // what a screen reader announces
  bar.setAttribute("aria-valuenow", String(job.total ? job.done : fraction));
  bar.setAttribute("aria-label", `job ${bar.dataset.job}: ${job.status}`);
}

function follow(bar) {
  const id = bar.dataset.job;
  const source = new EventSource(`/api/jobs/${id}/events`);
  source.addEventListener("progress", (event) => {
    const job = JSON.parse(event.data);
    paint(bar, job);
    const page = document.getElementById("job");
    if (page && page.dataset.job === id) {
      page.querySelector(".job-rate").textContent = job.rate
        ? `${formatNumber(job.rate)}/s` + (job.eta_s ? ` · about ${Math.round(job.eta_s)} s left` : "")
        : "";
      page.querySelector(".job-done").hidden = job.status !== "done";
      const error = page.querySelector(".job-error");
      error.textContent = job.error || "";
      error.hidden = !job.error;
      if (["done", "failed", "cancelled"].includes(job.status)) {
        source.close();
        window.location.reload(); // the finished page shows the job's summary
      }
    }
  });
  source.addEventListener("end", () => source.close());
  source.onerror = () => source.close();
}

document.querySelectorAll(".progress").forEach((bar) => {
  if (["queued", "running"].includes(bar.dataset.status)) follow(bar);
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.cancel");
  if (!button) return;
  button.disabled = true;
  try {
    await postJSON(`/api/jobs/${button.dataset.job}/cancel`, {}, token());
  } catch (err) {
    button.disabled = false;
    // said next to the button, not in a modal alert() that blocks the page
    let note = button.parentElement.querySelector(".form-error");
    if (!note) {
      note = document.createElement("span");
      note.className = "form-error";
      note.setAttribute("role", "alert");
      button.after(note);
    }
    showError(note, err.message);
  }
});

// The parameter inputs of the chosen kind (drawn from its parameter model) become `params`.
function readParam(input) {
  const type = input.dataset.type;
  if (type === "boolean") return input.checked;
  const text = input.value.trim();
  if (text === "") return undefined; // the model's default
  if (type === "integer" || type === "number") return Number(text);
  if (type === "string") return text;
  const items = text.split(",").map((v) => v.trim()).filter((v) => v !== "");
  return type === "strings" ? items : items.map(Number);
}

function showKind(form) {
  form.querySelectorAll("fieldset.job-params").forEach((set) => {
    const active = set.dataset.kind === form.elements.kind.value;
    set.hidden = !active;
    set.disabled = !active;
  });
}

const form = document.getElementById("new-job");
if (form) {
  form.elements.kind.addEventListener("change", () => showKind(form));
  showKind(form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = form.querySelector(".form-error");
    showError(error, "");
    const kind = form.elements.kind.value;
    const params = {};
    form.querySelectorAll(`fieldset[data-kind="${kind}"] [data-param]`).forEach((input) => {
      const value = readParam(input);
      if (value !== undefined) params[input.dataset.param] = value;
    });
    const body = { kind, model: form.elements.model.value.trim(), params };
    try {
      if (form.elements.token) sessionStorage.setItem("babellens-token", form.elements.token.value);
      const job = await postJSON("/api/jobs", body, token());
      window.location.href = `/jobs/${job.id}`;
    } catch (err) {
      showError(error, err.message);
    }
  });
}
