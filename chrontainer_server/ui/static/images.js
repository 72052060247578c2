// The images page. The server renders the list, its filters, sort and disk charts
// (images_list.html); this module wires behaviour: the shared row menu and dialogs (delete, tag,
// prune), multi-select with bulk delete, the pull dialog with live per-layer progress from the
// tab's one event stream (live.js: topic "operation"), the Docker Hub search, and refreshing the
// list region when image events arrive or a pull ends. Listeners are delegated to <main>.
import { api, el, notice, size } from "./api.js";
import { ask } from "./dialogs.js";
import { filterForm } from "./filter_form.js";
import { fragmentRefresher } from "./fragment.js";
import { subscribe } from "./live.js";
import { rowMenu } from "./row_menu.js";
import { rowSelection } from "./selection.js";

const main = document.getElementById("main");
const filters = document.getElementById("filters");
const statusBox = document.getElementById("img-status");
const menu = document.getElementById("row-menu"); // absent for viewers
const menuHome = document.getElementById("menu-home");
const bulkBar = document.getElementById("bulk");
const pullDialog = document.getElementById("pull-dialog"); // absent for viewers
let region = document.getElementById("list-region");

// Where admins manage registry credentials (a pull refused for credentials links there).
const REGISTRIES_URL = "/settings/registries";
const enc = encodeURIComponent;
const DEBOUNCE_MS = 400; // image events come in bursts (a pull tags, a delete untags and deletes)

// -- small helpers ------------------------------------------------------------------------------

const status = (text, kind) => notice(statusBox, text, kind);

const imagePath = (host, ref) => `/hosts/${enc(host)}/images/${enc(ref)}`;
const label = (row) => `${row.dataset.name} on ${row.dataset.host}`;

// -- the row menu, selection --------------------------------------------------------------------

// The shared row menu links to the row's image (details, a schedule for it); an untagged image
// has nothing to pull by name. It closes on Escape and on a click elsewhere.
const { open: openMenu, close: closeMenu, across: keepMenu } = rowMenu(menu, menuHome, {
  prepare(row) {
    const { host, ref, pull } = row.dataset;
    document.getElementById("menu-details").href = `/images/${enc(host)}/${enc(ref)}`;
    document.getElementById("menu-schedule").href =
      `/schedules/new?${new URLSearchParams({ host, image: pull })}`;
    for (const item of menu.querySelectorAll("[data-needs-tag]")) {
      item.hidden = !pull;
    }
  },
});

const { selected: selectedRows, update: updateBulk, restore: restorePicks } =
  rowSelection(main, () => region, bulkBar);

// -- the list region ----------------------------------------------------------------------------

/** Swap a fresh list region in, keeping the selection and the focused row. */
function applyList(fresh) {
  const picked = new Set(selectedRows().map((r) => r.id));
  const focusId = document.activeElement?.closest?.("tr.row")?.id;
  const menuOpen = Boolean(menu && !menu.hidden);
  keepMenu(() => {
    region.replaceWith(fresh);
    region = fresh;
  });
  restorePicks(picked);
  if (focusId && !menuOpen) {
    document.getElementById(focusId)?.querySelector(".menu-button, a")?.focus();
  }
  updateBulk();
}

/** Re-fetch the list region (table and charts); one fetch at a time. */
const { refresh: refreshList, refreshSoon } = fragmentRefresher({
  path: "/images", fragment: "list", id: "list-region", apply: applyList,
  onError: (error) => status(`Could not refresh the list: ${error.message}.`, "error"),
  debounceMs: DEBOUNCE_MS,
});

// -- delete, tag --------------------------------------------------------------------------------

async function askDelete(text, force) {
  document.getElementById("delete-text").textContent = text;
  document.getElementById("delete-force").checked = force;
  if (!(await ask(document.getElementById("delete-dialog")))) {
    return null;
  }
  return { force: document.getElementById("delete-force").checked };
}

async function deleteImage(row, force) {
  const users = row.dataset.users ? ` It is used by ${row.dataset.users}.` : "";
  const options = await askDelete(`Delete ${label(row)}? This cannot be undone.${users}`, force);
  if (!options) {
    return;
  }
  status(`Deleting ${label(row)}…`);
  try {
    await api("DELETE", `${imagePath(row.dataset.host, row.dataset.ref)}?force=${options.force}`);
  } catch (error) {
    status(`Could not delete ${label(row)}: ${error.message}`, "error");
    return;
  }
  status(`${label(row)} deleted.`);
  document.getElementById(row.id)?.remove();
  updateBulk();
  refreshList();
}

async function tagImage(row) {
  const dialog = document.getElementById("tag-dialog");
  const repository = document.getElementById("tag-repository");
  const tag = document.getElementById("tag-tag");
  document.getElementById("tag-text").textContent = `Add a tag to ${label(row)}.`;
  repository.value = row.dataset.pull ? row.dataset.pull.replace(/:[^:/]*$/, "") : "";
  tag.value = "";
  const shown = ask(dialog);
  repository.select();
  if (!(await shown)) {
    return;
  }
  const ref = `${repository.value.trim()}:${tag.value.trim()}`;
  try {
    await api("POST", `${imagePath(row.dataset.host, row.dataset.ref)}/tag`,
      { repository: repository.value.trim(), tag: tag.value.trim() });
  } catch (error) {
    status(`Could not tag ${label(row)}: ${error.message}`, "error");
    return;
  }
  status(`Tagged ${row.dataset.ref.slice(0, 12)} as ${ref} on ${row.dataset.host}.`);
  refreshList();
}

async function bulkDelete() {
  const rows = selectedRows();
  if (!rows.length) {
    return;
  }
  const options = await askDelete(
    `Delete ${rows.length} image${rows.length === 1 ? "" : "s"}? This cannot be undone.`, false);
  if (!options) {
    return;
  }
  status(`Deleting ${rows.length} images…`);
  const targets = rows.map((r) => ({ host: r.dataset.host, ref: r.dataset.ref }));
  let items;
  try {
    ({ items } = await api("POST", "/images/delete", { targets, force: options.force }));
  } catch (error) {
    status(`Could not delete the selection: ${error.message}`, "error");
    return;
  }
  const names = new Map(rows.map((r) => [`${r.dataset.host}/${r.dataset.ref}`, r.dataset.name]));
  const failed = items.filter((i) => !i.ok).length;
  document.getElementById("bulk-items").replaceChildren(...items.map((item) => {
    const name = names.get(`${item.host}/${item.ref}`) || item.ref.slice(0, 12);
    const li = el("li", {
      className: item.ok ? "result-ok" : "result-failed",
      textContent: item.ok ? `${name} (${item.host}): deleted`
        : `${name} (${item.host}): failed: ${item.error?.message || "unknown error"}`,
    });
    li.dataset.host = item.host;
    li.dataset.ref = item.ref;
    return li;
  }));
  document.getElementById("bulk-result-title").textContent =
    `Delete: ${items.length - failed} succeeded, ${failed} failed`;
  document.getElementById("bulk-result").hidden = false;
  status(failed ? `${failed} of ${items.length} failed; see the results.` : "Done.",
    failed ? "error" : "ok");
  refreshList();
}

// -- prune --------------------------------------------------------------------------------------

async function prune(form) {
  const result = document.getElementById("prune-result");
  const host = form.elements.host.value;
  const danglingOnly = form.elements.scope.value === "dangling";
  const button = document.getElementById("prune-ok");
  button.disabled = true;
  result.hidden = false;
  result.className = "notice";
  result.textContent = `Pruning on ${host}…`;
  try {
    const done = await api("POST", `/hosts/${enc(host)}/images/prune`, { dangling_only: danglingOnly });
    const count = (done.untagged?.length || 0) + (done.deleted?.length || 0);
    result.className = "notice notice-ok";
    result.textContent = count || done.reclaimed_bytes
      ? `Reclaimed ${size(done.reclaimed_bytes)} on ${host} (${done.untagged?.length || 0} references untagged, ${done.deleted?.length || 0} layers deleted).`
      : `Nothing to prune on ${host}: reclaimed 0 B.`;
    status(result.textContent);
    refreshList();
  } catch (error) {
    result.className = "notice notice-error";
    result.textContent = `Could not prune on ${host}: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

// -- pull ---------------------------------------------------------------------------------------

const seen = new Map(); // operation id -> its latest state (events may beat the 202 reply)
let current = null; // the id of the pull this dialog follows
const layerItems = new Map(); // layer id -> its <li>

function openPull(image = "", host = "") {
  if (!pullDialog) {
    return;
  }
  const form = document.getElementById("pull-form");
  if (!current) {
    // The last pull has ended: start from a clean form.
    document.getElementById("pull-progress").hidden = true;
    document.getElementById("pull-start").disabled = false;
  }
  if (image) {
    form.elements.image.value = image;
  }
  if (host && [...form.elements.host.options].some((o) => o.value === host && !o.disabled)) {
    form.elements.host.value = host;
  }
  if (!pullDialog.open) {
    pullDialog.showModal();
  }
  form.elements.image.focus();
}

function layerItem(layer) {
  let li = layerItems.get(layer.id);
  if (!li) {
    li = el("li", {},
      el("span", { className: "layer-id mono", textContent: layer.id.slice(0, 12) }),
      el("span", { className: "layer-status" }),
      el("progress", { className: "layer-bar", max: 1 }),
      el("span", { className: "layer-bytes" }));
    li.dataset.layer = layer.id;
    layerItems.set(layer.id, li);
    document.getElementById("pull-layers").append(li);
  }
  return li;
}

function renderLayer(layer) {
  const li = layerItem(layer);
  const bar = li.querySelector("progress");
  const finished = /complete|already exists/i.test(layer.status);
  li.querySelector(".layer-status").textContent = layer.status;
  li.classList.toggle("layer-done", finished);
  bar.setAttribute("aria-label", `Layer ${layer.id.slice(0, 12)}: ${layer.status}`);
  if (finished) {
    bar.max = 1;
    bar.value = 1;
  } else if (layer.total > 0) {
    bar.max = layer.total;
    bar.value = Math.min(layer.current, layer.total);
  } else {
    bar.removeAttribute("value"); // unknown size: an indeterminate bar
  }
  li.querySelector(".layer-bytes").textContent =
    layer.total > 0 && !finished ? `${size(layer.current)} / ${size(layer.total)}` : "";
}

function pullFailure(op) {
  const box = document.getElementById("pull-result");
  const messages = {
    image_not_found: "Image not found",
    registry_auth_failed: "The registry refused the credentials",
    registry_unreachable: "The registry is unreachable",
  };
  const lead = messages[op.error_code] || "The pull failed";
  box.replaceChildren(`${lead}: ${op.error || "unknown error"}`);
  if (op.error_code === "registry_auth_failed" && region.dataset.admin === "true") {
    box.append(" ", el("a", { href: REGISTRIES_URL, textContent: "Settings > Registries" }));
  }
}

/** Show an operation's state in the pull dialog (only the one this dialog follows). */
function renderPull(op) {
  if (!op || op.id !== current) {
    return;
  }
  document.getElementById("pull-target").textContent = `${op.target} on ${op.host}`;
  document.getElementById("pull-message").textContent = op.message || "";
  for (const layer of op.layers || []) {
    renderLayer(layer);
  }
  const overall = document.getElementById("pull-overall");
  const running = op.status === "running";
  if (op.status === "succeeded") {
    overall.value = 100;
  } else if (op.percent == null) {
    if (running) {
      overall.removeAttribute("value"); // unknown sizes: an indeterminate bar
    } else {
      overall.value = 0; // ended without a known size: stop the indeterminate animation
    }
  } else {
    overall.value = op.percent;
  }
  document.getElementById("pull-percent").textContent =
    op.status === "succeeded" ? "100 %" : op.percent == null ? "" : `${Math.floor(op.percent)} %`;
  document.getElementById("pull-progress").dataset.status = op.status;
  document.getElementById("pull-cancel").hidden = !running;
  document.getElementById("pull-again").hidden = running;
  document.getElementById("pull-start").disabled = running;
  if (running) {
    return;
  }
  const box = document.getElementById("pull-result");
  box.hidden = false;
  if (op.status === "succeeded") {
    box.className = "notice notice-ok";
    const id = op.result?.image_id ? ` (${op.result.image_id.replace("sha256:", "").slice(0, 12)})` : "";
    box.textContent = `Pulled ${op.target} on ${op.host}${id}.`;
    status(box.textContent);
  } else if (op.status === "cancelled") {
    box.className = "notice notice-warn";
    box.textContent = `Pull of ${op.target} cancelled${op.error ? `: ${op.error}` : "."}`;
    status(box.textContent, "warn");
  } else {
    box.className = "notice notice-error";
    pullFailure(op);
    status(box.textContent, "error");
  }
  current = null;
}

async function startPull(form) {
  const image = form.elements.image.value.trim();
  const host = form.elements.host.value;
  if (!image || !host) {
    return;
  }
  document.getElementById("pull-layers").replaceChildren();
  layerItems.clear();
  const box = document.getElementById("pull-result");
  box.hidden = true;
  box.replaceChildren();
  const progress = document.getElementById("pull-progress");
  progress.hidden = false;
  document.getElementById("pull-target").textContent = `${image} on ${host}`;
  document.getElementById("pull-message").textContent = "Starting…";
  document.getElementById("pull-overall").removeAttribute("value");
  document.getElementById("pull-percent").textContent = "";
  document.getElementById("pull-start").disabled = true;
  let op;
  try {
    op = await api("POST", `/hosts/${enc(host)}/images/pull`, { image });
  } catch (error) {
    document.getElementById("pull-start").disabled = false;
    document.getElementById("pull-message").textContent = "";
    document.getElementById("pull-cancel").hidden = true;
    box.hidden = false;
    box.className = "notice notice-error";
    box.textContent = `Could not start the pull: ${error.message}`;
    return;
  }
  current = op.id;
  progress.dataset.operation = op.id;
  status(`Pulling ${op.target} on ${op.host}…`);
  // Events may have arrived before this reply: show whichever is further along.
  const known = seen.get(op.id);
  renderPull(known && (known.status !== "running" || op.status === "running") ? known : op);
}

async function cancelPull() {
  const id = current;
  if (!id) {
    return;
  }
  document.getElementById("pull-cancel").disabled = true;
  try {
    renderPull(await api("POST", `/operations/${enc(id)}/cancel`));
  } catch (error) {
    document.getElementById("pull-message").textContent = `Could not cancel: ${error.message}`;
  } finally {
    document.getElementById("pull-cancel").disabled = false;
  }
}

/** After a reconnect the stream may have missed the end of the pull: read it once. */
async function resyncPull() {
  if (!current) {
    return;
  }
  try {
    renderPull(await api("GET", `/operations/${enc(current)}`));
  } catch (error) {
    document.getElementById("pull-message").textContent = `Could not read the pull: ${error.message}`;
  }
}

// -- Docker Hub search --------------------------------------------------------------------------

const hubStatus = (text, kind) => notice(document.getElementById("hub-status"), text, kind);

async function searchHub(form) {
  const term = form.elements.term.value.trim();
  const host = form.elements.host.value;
  const list = document.getElementById("hub-results");
  list.replaceChildren();
  if (!term) {
    return;
  }
  hubStatus(`Searching Docker Hub for “${term}”…`);
  let data;
  try {
    data = await api("GET", `/images/search?${new URLSearchParams({ term, ...(host ? { host } : {}) })}`);
  } catch (error) {
    hubStatus(error.message, "error");
    return;
  }
  const items = Array.isArray(data) ? data : data.items || [];
  hubStatus(items.length ? "" : `No image on Docker Hub matches “${term}”.`);
  list.replaceChildren(...items.map((hit) => {
    const li = el("li", {},
      el("span", { className: "hub-name", textContent: hit.name }));
    if (hit.official) {
      li.append(el("span", { className: "badge official", textContent: "official" }));
    }
    li.append(el("span", { className: "muted", textContent: `★ ${hit.stars}` }),
      el("span", { className: "hub-desc", textContent: hit.description || "" }));
    if (pullDialog) {
      const pull = el("button", { type: "button", className: "hub-pull", textContent: "Pull" });
      pull.dataset.image = hit.name;
      pull.dataset.host = host;
      pull.setAttribute("aria-label", `Pull ${hit.name}`);
      li.append(pull);
    }
    return li;
  }));
}

// -- wiring -------------------------------------------------------------------------------------

main.addEventListener("click", (event) => {
  const target = event.target.closest("button");
  if (!target) {
    return;
  }
  const row = target.closest("tr.row");
  if (target.classList.contains("menu-button") && row) {
    openMenu(target);
  } else if (target.dataset.act && menu?.contains(target)) {
    const acting = target.closest("tr.row");
    const act = target.dataset.act;
    closeMenu(true);
    if (act === "delete" || act === "force") {
      deleteImage(acting, act === "force");
    } else if (act === "tag") {
      tagImage(acting);
    } else if (act === "pull") {
      openPull(acting.dataset.pull, acting.dataset.host);
      startPull(document.getElementById("pull-form"));
    }
  } else if (target.dataset.bulk === "delete") {
    bulkDelete();
  } else if (target.id === "bulk-result-close") {
    document.getElementById("bulk-result").hidden = true;
  } else if (target.id === "open-pull") {
    openPull();
  } else if (target.id === "open-prune") {
    document.getElementById("prune-result").hidden = true;
    document.getElementById("prune-dialog").showModal();
  } else if (target.id === "pull-cancel") {
    cancelPull();
  } else if (target.id === "pull-again") {
    document.getElementById("pull-progress").hidden = true;
    document.getElementById("pull-start").disabled = false;
    document.getElementById("pull-image").select();
  } else if (target.classList.contains("hub-pull")) {
    openPull(target.dataset.image, target.dataset.host);
  } else if (target.hasAttribute("data-close")) {
    target.closest("dialog")?.close("");
  }
});

main.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.id === "pull-form") {
    event.preventDefault();
    startPull(form);
  } else if (form.id === "prune-form") {
    event.preventDefault();
    prune(form);
  } else if (form.id === "hub-form") {
    event.preventDefault();
    searchHub(form);
  }
});

filterForm(filters, "/images");

// -- live ---------------------------------------------------------------------------------------

subscribe("docker.event", (data) => {
  if (data.type === "image") {
    refreshSoon();
  }
});

subscribe("operation", (op) => {
  if (op.kind !== "image.pull") {
    return;
  }
  seen.set(op.id, op);
  if (seen.size > 50) {
    seen.delete(seen.keys().next().value); // the oldest: only recent pulls matter here
  }
  renderPull(op);
  if (op.status !== "running") {
    refreshSoon();
  }
});

subscribe("lagged", () => {
  refreshList();
  resyncPull();
});
subscribe("open", () => {
  refreshList();
  resyncPull();
});

// /images?pull=<reference>&host=<slug> opens the pull dialog pre-filled (the registries page
// links here).
const wanted = new URLSearchParams(location.search);
if (wanted.get("pull")) {
  openPull(wanted.get("pull"), wanted.get("host") || "");
}
updateBulk();
performance.mark("list-ready");
