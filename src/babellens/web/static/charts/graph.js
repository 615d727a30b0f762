// The graph page's chart: draws the graph from its JSON twin, click/hover/pin/supernodes/interventions.
// A node opens (click, or Enter on it or on its row of the node table) beside the graph, a feature
// node with its feature's dashboard. Token text reaches the page through textContent only.
import { el, formatNumber, postJSON, visible } from "../api.js";
import { signColors } from "../plot.js";
import { featurePanel } from "./graph_feature.js";

const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs = {}) => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};

function rowOf(node, nLayers) {
  if (node.feature_type === "embedding") return 0;
  if (node.feature_type === "logit") return nLayers + 1;
  return Number(node.layer) + 1;
}

function layout(graph) {
  const meta = graph.metadata;
  const nLayers = meta.n_layers ?? Math.max(...graph.nodes.map((n) => Number(n.layer) || 0)) - 1;
  const nPos = meta.prompt_tokens.length;
  const cellW = Math.max(70, Math.min(140, 900 / nPos)), cellH = 46;
  const cells = new Map();
  for (const node of graph.nodes) {
    const key = `${rowOf(node, nLayers)}:${node.ctx_idx}`;
    if (!cells.has(key)) cells.set(key, []);
    cells.get(key).push(node);
  }
  const where = new Map();
  for (const [key, nodes] of cells) {
    const [row, col] = key.split(":").map(Number);
    nodes.forEach((node, i) => {
      const x = 30 + col * cellW + ((i + 1) * cellW) / (nodes.length + 1);
      const y = 20 + (nLayers + 1 - row) * cellH + cellH / 2;
      where.set(node.node_id, { x, y, node });
    });
  }
  return { where, width: 60 + nPos * cellW, height: 60 + (nLayers + 2) * cellH, cellW, nLayers, nPos };
}

function draw(app, state) {
  const svg = document.getElementById("graph-svg");
  const { where, width, height, cellW, nPos } = state.layout;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  const maxW = Math.max(...state.graph.links.map((l) => Math.abs(l.weight)), 1e-9);
  const focus = state.clicked;
  for (const link of state.graph.links) {
    const a = where.get(link.source), b = where.get(link.target);
    if (!a || !b) continue;
    const touches = focus && (link.source === focus || link.target === focus);
    const line = svgEl("line", {
      x1: a.x, y1: a.y, x2: b.x, y2: b.y,
      stroke: link.weight >= 0 ? signColors.positive : signColors.negative,
      "stroke-width": 0.4 + 4 * Math.abs(link.weight) / maxW,
      opacity: focus ? (touches ? 0.9 : 0.05) : 0.35,
      class: "graph-edge",
    });
    const title = svgEl("title");
    title.textContent = `${link.source} → ${link.target}: ${formatNumber(link.weight)}`;
    line.append(title);
    svg.append(line);
  }
  for (const { x, y, node } of where.values()) {
    const pinned = state.pinned.has(node.node_id);
    const shape = node.feature_type === "mlp reconstruction error"
      ? svgEl("rect", { x: x - 5, y: y - 5, width: 10, height: 10 })
      : svgEl("circle", { cx: x, cy: y, r: node.feature_type === "logit" ? 8 : 6 });
    shape.setAttribute("class", `graph-node ${node.feature_type.replaceAll(" ", "-")}${pinned ? " pinned" : ""}`);
    shape.setAttribute("data-node", node.node_id);
    shape.setAttribute("fill", pinned ? "#f59e0b" : node.feature_type === "logit" ? "#16a34a" : "#64748b");
    shape.setAttribute("stroke", node.node_id === focus ? "#111" : "none");
    const title = svgEl("title");
    title.textContent = `${node.node_id} ${node.clerp || ""} influence ${formatNumber(node.influence)}`;
    shape.append(title);
    shape.setAttribute("tabindex", "0");  // a node opens with Enter or Space as with a click
    shape.setAttribute("aria-label", title.textContent);
    const open = () => {
      openNode(app, state, node);
      svg.querySelector(`[data-node="${CSS.escape(node.node_id)}"]`)?.focus();  // drawn anew
    };
    shape.addEventListener("click", open);
    shape.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(); }
    });
    svg.append(shape);
  }
  state.graph.metadata.prompt_tokens.forEach((token, i) => {
    const text = svgEl("text", { x: 30 + i * cellW + cellW / 2, y: height - 8, "text-anchor": "middle", class: "graph-token" });
    text.textContent = visible(token);
    svg.append(text);
  });
  if (nPos === 0) svg.append(svgEl("text"));
}

function openNode(app, state, node) {
  state.clicked = node.node_id;
  draw(app, state);
  detail(app, state, node);
}

function detail(app, state, node) {
  const box = document.getElementById("node-detail");
  const incoming = state.graph.links.filter((l) => l.target === node.node_id);
  const outgoing = state.graph.links.filter((l) => l.source === node.node_id);
  const byId = new Map(state.graph.nodes.map((n) => [n.node_id, n]));
  const top = (links, key) => links.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, 8)
    .map((l) => {
      const item = el("li", {}, `${l[key]}: ${formatNumber(l.weight)}`);
      const other = byId.get(l.source), mine = byId.get(l.target);
      if (other && mine && other.ctx_idx !== mine.ctx_idx) {
        const button = el("button", { type: "button", class: "heads-button" }, "heads");
        button.addEventListener("click", () => heads(app, l, item));
        item.append(" ", button);
      }
      return item;
    });
  const pin = el("button", { type: "button", id: "pin-node" }, state.pinned.has(node.node_id) ? "Unpin" : "Pin");
  pin.addEventListener("click", () => {
    if (state.pinned.has(node.node_id)) state.pinned.delete(node.node_id); else state.pinned.add(node.node_id);
    save(app, state); draw(app, state); detail(app, state, node);
  });
  const facts = el("p", {}, `${node.feature_type} · layer ${node.layer} · position ${node.ctx_idx}`
    + (node.feature !== null ? ` · #${node.feature}` : "")
    + (node.activation !== null && node.activation !== undefined ? ` · activation ${formatNumber(node.activation)}` : ""));
  const parts = [facts];
  if (node.clerp) parts.push(el("p", { class: "muted" }, node.clerp));
  parts.push(pin);
  if (node.feature_type === "cross layer transcoder") {
    const panel = el("section", { id: "feature-panel", "aria-label": "Feature dashboard" });
    parts.push(panel);
    const url = state.featureUrls[node.node_id] ?? null;
    featurePanel(panel, url, state.dictionaryId !== null, () => state.clicked);
  }
  const count = (links) => links.length > 8 ? ` (8 of ${links.length})` : "";
  box.replaceChildren(...parts, el("h3", {}, `Strongest inputs${count(incoming)}`), el("ul", {}, ...top(incoming, "source")),
    el("h3", {}, `Strongest outputs${count(outgoing)}`), el("ul", {}, ...top(outgoing, "target")));
}

// The table of nodes opens a node like the graph does; the row's button keeps the focus.
function tableOpens(app, state) {
  const byId = new Map(state.graph.nodes.map((n) => [n.node_id, n]));
  document.querySelector('table[data-chart="graph-svg"]')?.addEventListener("click", (event) => {
    const button = event.target.closest("[data-open-node]");
    const node = button && byId.get(button.dataset.openNode);
    if (!node) return;
    openNode(app, state, node);
    document.getElementById("node-detail").scrollIntoView({ block: "nearest" });
  });
}

async function heads(app, link, item) {
  const query = new URLSearchParams({ source: link.source, target: link.target });
  const response = await fetch(`/api/graphs/${app.dataset.job}/heads?${query}`);
  const data = await response.json();
  if (!response.ok) { item.append(el("span", { class: "form-error" }, ` ${data.error}`)); return; }
  item.append(el("ul", { class: "heads" },
    ...data.heads.slice(0, 5).map((h) => el("li", {}, `L${h.layer}.H${h.head}: ${formatNumber(h.weight)}`))));
}

function lists(app, state) {
  document.getElementById("pinned-list").replaceChildren(...[...state.pinned].map((id) => el("li", {}, id)));
  document.getElementById("supernode-list").replaceChildren(
    ...state.supernodes.map(([name, ...ids]) => el("li", {}, `${name}: ${ids.join(", ")}`)));
}

async function save(app, state) {
  lists(app, state);
  await postJSON(`/api/graphs/${app.dataset.job}/state`, { pinnedIds: [...state.pinned], supernodes: state.supernodes });
}

function tokensTable(table, rows) {
  table.replaceChildren(el("tr", {}, el("th", {}, "token"), el("th", {}, "p")),
    ...rows.map((t) => el("tr", {}, el("td", {}, visible(t.token)), el("td", {}, formatNumber(t.probability)))));
}

async function intervene(app, state) {
  const error = app.querySelector(".form-error");
  error.hidden = true;
  const byId = new Map(state.graph.nodes.map((n) => [n.node_id, n]));
  const scale = Number(document.getElementById("scale").value);
  const edits = [...state.pinned].map((id) => byId.get(id)).filter((n) => n && n.feature_type === "cross layer transcoder")
    .map((n) => ({ layer: Number(n.layer), pos: n.ctx_idx, feature: n.feature, scale }));
  try {
    if (!edits.length) throw new Error("pin at least one feature node first");
    const result = await postJSON(`/api/graphs/${app.dataset.job}/intervene`, { edits });
    tokensTable(document.getElementById("replacement-table"), result.replacement_after);
    tokensTable(document.getElementById("real-table"), result.real_after);
    document.getElementById("intervention").hidden = false;
  } catch (exc) {
    error.textContent = exc.message;
    error.hidden = false;
  }
}

async function graphPage(app) {
  const response = await fetch(`/graphs/${app.dataset.job}.json`);
  const page = await response.json();
  const state = {
    graph: page.graph,
    pinned: new Set(page.graph.qParams.pinnedIds),
    supernodes: page.graph.qParams.supernodes,
    clicked: null,
    featureUrls: page.feature_urls || {},
    dictionaryId: page.dictionary_id ?? null,
  };
  state.layout = layout(state.graph);
  draw(app, state);
  lists(app, state);
  tableOpens(app, state);
  document.getElementById("make-supernode").addEventListener("click", () => {
    const name = document.getElementById("supernode-name").value.trim() || `group ${state.supernodes.length + 1}`;
    if (!state.pinned.size) return;
    state.supernodes.push([name, ...state.pinned]);
    save(app, state);
  });
  document.getElementById("intervene").addEventListener("click", () => intervene(app, state));
}

const app = document.getElementById("graph-app");
if (app) graphPage(app);
