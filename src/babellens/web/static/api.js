// Small helpers shared by the page scripts. Token text is untrusted: it only ever reaches the
// page through textContent, never innerHTML.

export async function postJSON(url, body, token) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "style") node.setAttribute("style", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

export function visible(token) {
  return token.replaceAll("\n", "↵").replaceAll("\t", "⇥");
}

export function formatNumber(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  if (x === 0) return "0";
  return Math.abs(x) >= 1000 || Math.abs(x) < 0.001 ? x.toExponential(2) : x.toPrecision(3);
}

// Highlighted tokens, the same markup the server renders for top examples.
export function tokenSpans(tokens, activations, scale) {
  const box = el("span", { class: "tokens" });
  const peak = scale > 0 ? scale : Math.max(...activations.filter((a) => a !== null), 0);
  tokens.forEach((token, i) => {
    const a = activations[i];
    if (a === null) {  // a mixture-of-experts unit: the token went to another expert
      const span = el("span", { class: "tok tok-unrouted", tabindex: "0", title: "not routed to this expert" });
      span.dataset.act = "not routed";
      span.textContent = visible(token);
      box.append(span);
      return;
    }
    const level = peak > 0 && a > 0 ? Math.min(a / peak, 1) : 0;
    // focusable, so the activation (shown on hover and focus from data-act) is keyboard-reachable
    const span = el("span", { class: "tok", tabindex: "0", style: `--a:${level.toFixed(3)}` });
    span.dataset.act = formatNumber(a);
    span.textContent = visible(token);
    box.append(span);
  });
  return box;
}

// A unit's page, the one address the templates' neuron_link macro writes too.
export function neuronHref(slug, layer, neuron) {
  return `/models/${slug}/layers/${layer}/neurons/${neuron}`;
}

export function showError(node, message) {
  if (!node) return;
  node.textContent = message || "";
  node.hidden = !message;
}

// A form that starts a job: POST what body(form) builds, then follow the job on its page; a
// refusal shows in the form's .form-error, in place.
export function launchesJob(form, url, body) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = form.querySelector(".form-error");
    showError(error, "");
    try {
      const job = await postJSON(url, body(form), sessionStorage.getItem("babellens-token"));
      window.location.href = `/jobs/${job.id}`;
    } catch (err) {
      showError(error, err.message);
    }
  });
}
