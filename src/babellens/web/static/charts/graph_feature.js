// A feature node's dashboard beside the graph: the feature page's own JSON twin (its explanation,
// its top examples from the set's feature scan) and a link to that page. Token text reaches the
// page through textContent only (el, tokenSpans).
import { el, formatNumber, tokenSpans } from "../api.js";

const EXAMPLES = 5;
const BEFORE = 20, AFTER = 8;  // tokens shown around each example's maximum

// One request per feature page however often the node is reopened (a pin redraws the panel).
const pages = new Map();

function featureJSON(url) {
  if (!pages.has(url)) {
    pages.set(url, fetch(url, { headers: { Accept: "application/json" } }).then(async (response) => {
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
      return data;
    }));
  }
  return pages.get(url);
}

function example(ex, peak) {
  const start = Math.max(ex.position - BEFORE, 0), stop = Math.min(ex.position + AFTER, ex.tokens.length);
  const meta = el("div", { class: "example-meta" }, el("b", {}, formatNumber(ex.value)),
    " ", el("span", { class: "muted" }, ex.lang ? `${ex.doc_id} · ${ex.lang}` : ex.doc_id));
  const box = el("div", { class: "tokens-box" });
  if (start > 0) box.append(el("span", { class: "muted" }, "… "));
  box.append(tokenSpans(ex.tokens.slice(start, stop), ex.activations.slice(start, stop), peak));
  if (stop < ex.tokens.length) box.append(el("span", { class: "muted" }, " …"));
  return el("li", { class: "example" }, meta, box);
}

function dashboard(page, url) {
  const [best] = page.explanations || [];
  const explanation = best
    ? el("p", { class: "feature-explanation" }, el("b", {}, "Explanation: "), best.text,
      el("span", { class: "muted" }, ` (${best.explainer}`
        + (best.detection !== null ? `, detection ${formatNumber(best.detection)})` : ")")))
    : el("p", { class: "muted feature-explanation" }, "No explanation stored for this feature yet.");
  const title = el("h3", {}, `Feature ${page.index}`,
    el("span", { class: "muted" }, ` of dictionary ${page.info.id} (${page.hook_in})`));
  const link = el("a", { href: url, id: "feature-page-link" }, `Feature ${page.index}: full page`);
  const parts = [title, explanation];
  const record = page.record;
  if (!record) {
    parts.push(el("p", { class: "muted" }, `Not scanned yet: babellens dict scan ${page.info.id}`));
  } else {
    parts.push(el("p", { class: "muted" }, `max ${formatNumber(record.max)} · density `
      + `${(100 * record.density).toFixed(3)}% · top examples ${record.examples.length}`),
    el("h4", {}, "Top examples"),
    el("ol", { class: "examples" }, ...record.examples.slice(0, EXAMPLES).map((ex) => example(ex, record.max))));
  }
  parts.push(el("p", {}, link));
  return parts;
}

// Fill `box` with the dashboard of the feature at `url` (null: no stored dictionary has it), unless
// another node was opened meanwhile (`current()` says which node is open now).
export async function featurePanel(box, url, hasDictionary, current) {
  const nodeId = current();
  if (!url) {
    box.replaceChildren(el("p", { class: "muted" }, hasDictionary
      ? "no feature of this graph's stored dictionary for this node"
      : "no stored dictionary for this graph"));
    return;
  }
  box.replaceChildren(el("p", { class: "muted" }, "Loading the feature…"));
  try {
    const page = await featureJSON(url);
    if (current() === nodeId) box.replaceChildren(...dashboard(page, url));
  } catch (exc) {
    if (current() === nodeId) {
      box.replaceChildren(el("p", { class: "feature-error", role: "status" }, `feature page: ${exc.message}`),
        el("p", {}, el("a", { href: url, id: "feature-page-link" }, "Open the feature page")));
    }
  }
}
