// The containers dashboard. The server renders every row (containers_row.html); this module
// only wires behaviour: live row swaps from the tab's one event stream (live.js), the instant
// search, row details on expand, the shared actions menu and dialogs, multi-select with bulk
// actions, and tag management. Listeners are delegated to <main>, so they survive swaps.
import { api, notice, size } from "./api.js";
import { containerUpdates } from "./container_updates.js";
import { ask } from "./dialogs.js";
import { filterForm } from "./filter_form.js";
import { subscribe } from "./live.js";
import { rowMenu } from "./row_menu.js";
import { rowSelection } from "./selection.js";

const main = document.getElementById("main");
const filters = document.getElementById("filters");
const search = document.getElementById("f-q");
const statusBox = document.getElementById("dash-status");
const menu = document.getElementById("row-menu"); // absent for viewers
const menuHome = document.getElementById("menu-home");
const byState = JSON.parse(menu?.dataset.byState || "{}"); // state -> the actions it allows
const bulkBar = document.getElementById("bulk");
let region = document.getElementById("list-region");

const DONE = {
  start: "started", stop: "stopped", restart: "restarted", pause: "paused",
  unpause: "unpaused", kill: "killed", rename: "renamed", remove: "deleted",
};
const DOING = {
  start: "Starting", stop: "Stopping", restart: "Restarting", pause: "Pausing",
  unpause: "Unpausing", kill: "Killing", rename: "Renaming", remove: "Deleting",
};
const VERB = {
  start: "Start", stop: "Stop", restart: "Restart", pause: "Pause", unpause: "Unpause",
  kill: "Kill", rename: "Rename", remove: "Delete",
};
const ACTIVE = new Set(["running", "paused", "restarting"]);
const enc = encodeURIComponent;

// -- small helpers ------------------------------------------------------------------------------

const status = (text, kind) => notice(statusBox, text, kind);

// The shared actions menu shows only the actions the row's state allows. It closes on Escape,
// and when focus or a click goes elsewhere.
const { open: openMenu, close: closeMenu } = rowMenu(menu, menuHome, {
  prepare(row) {
    const allowed = new Set((byState[row.dataset.state] || "").split(" "));
    for (const item of menu.querySelectorAll("[data-act]")) {
      item.hidden = !allowed.has(item.dataset.act);
    }
  },
  focus: "[data-act]:not([hidden])",
  closeOnFocusOut: true,
});

// A row's id is c-<host>-<the first 12 hex of the container id>; those 12 are also a valid
// reference to the container in the API and fragment URLs (a unique id prefix).
const rowId = (host, id) => `c-${host}-${id.slice(0, 12)}`;
const refOf = (row) => row.id.slice(-12);
const detailsOf = (row) => document.getElementById(`d-${row.id}`);
const expanded = (row) => row.querySelector(".disclose")?.getAttribute("aria-expanded") === "true";
const containerPath = (row) => `/hosts/${enc(row.dataset.host)}/containers/${refOf(row)}`;

function parse(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return template.content;
}

/** GET a server-rendered fragment: its text, null for 204/404; throws with a readable message. */
async function fragment(url, headers = {}) {
  const response = await fetch(url, { credentials: "same-origin", headers });
  if (response.redirected) {
    throw new Error("your session has ended: reload the page to log in");
  }
  if (response.status === 204 || response.status === 404) {
    return null;
  }
  if (!response.ok) {
    throw new Error(`the server answered ${response.status}`);
  }
  return response.text();
}

/** Run `task` for `key` one at a time; a call during a run asks for exactly one more run. */
function coalesce(runs, key, task) {
  const current = runs.get(key);
  if (current) {
    current.again = true;
    return current.promise;
  }
  const entry = { again: false };
  entry.promise = (async () => {
    try {
      do {
        entry.again = false;
        await task();
      } while (entry.again);
    } finally {
      runs.delete(key);
    }
  })();
  runs.set(key, entry);
  return entry.promise;
}

// -- search, selection --------------------------------------------------------------------------

/** The instant search: hide rows (and empty groups) whose name/image/project miss the text. */
function applySearch() {
  const text = (search?.value || "").trim().toLowerCase();
  let shown = 0;
  for (const body of region.querySelectorAll("tbody[data-group]")) {
    let any = false;
    for (const row of body.querySelectorAll("tr.row")) {
      const hit = !text || row.dataset.search.includes(text);
      row.hidden = !hit;
      const details = detailsOf(row);
      if (details) {
        details.hidden = !hit || !expanded(row);
      }
      any ||= hit;
      shown += hit ? 1 : 0;
    }
    body.hidden = Boolean(text) && !any;
  }
  const none = region.querySelector("#no-match");
  if (none) {
    none.hidden = !text || shown > 0;
  }
}

// Only the rows the search shows count: a bulk action never reaches a hidden row.
const { selected: selectedRows, update: updateBulk, restore: restorePicks } =
  rowSelection(main, () => region, bulkBar, "tr.row:not([hidden])");

// -- rows ---------------------------------------------------------------------------------------

function groupBody(key) {
  return [...region.querySelectorAll("tbody[data-group]")].find((b) => b.dataset.group === key);
}

function insertSorted(body, row) {
  const name = row.dataset.name.toLowerCase();
  const next = [...body.querySelectorAll("tr.row")]
    .find((other) => other.dataset.name.toLowerCase().localeCompare(name) > 0);
  if (next) {
    next.before(row);
  } else {
    body.append(row);
  }
}

/** Carry what the user did to a row (selection, expansion, focus) over to its new version. */
function carry(old, fresh) {
  const pick = old.querySelector(".pick");
  if (pick?.checked && fresh.querySelector(".pick")) {
    fresh.querySelector(".pick").checked = true;
  }
  fresh.querySelector(".disclose")?.setAttribute("aria-expanded", String(expanded(old)));
  const focused = old.contains(document.activeElement) ? document.activeElement : null;
  // Focus in the open menu goes back to the row's Actions button (the menu closes: the
  // actions it offered may no longer fit the new state).
  let kind = focused && menu?.contains(focused) ? "menu-button" : null;
  if (menu && old.contains(menu)) {
    closeMenu(false);
  }
  kind ||= ["menu-button", "disclose", "pick"].find((k) => focused?.classList.contains(k));
  return kind ? () => (fresh.querySelector(`.${kind}`) || fresh.querySelector(".disclose"))?.focus() : null;
}

function placeRow(html) {
  const fresh = parse(html).querySelector("tr.row");
  if (!fresh) {
    return;
  }
  const body = groupBody(fresh.dataset.group);
  if (!body) {
    refreshList(); // a new group: the server renders its heading
    return;
  }
  const old = document.getElementById(fresh.id);
  const refocus = old ? carry(old, fresh) : null;
  if (old && old.parentElement === body) {
    old.replaceWith(fresh);
  } else {
    const details = old && detailsOf(old);
    old?.remove();
    insertSorted(body, fresh);
    if (details) {
      fresh.after(details);
    }
  }
  fresh.classList.remove("row-error");
  refocus?.();
  applySearch();
  updateBulk();
}

function removeRow(row) {
  if (menu && row.contains(menu)) {
    closeMenu(false);
  }
  detailsOf(row)?.remove();
  row.remove();
  if (!region.querySelector("tr.row")) {
    refreshList(); // the server says what the empty list means (no containers, no match)
  }
  applySearch();
  updateBulk();
}

const rowRuns = new Map();

/** Re-fetch one row for the page's current query; replace, insert or remove it. */
function refreshRow(host, id) {
  const ref = id.slice(0, 12);
  return coalesce(rowRuns, `${host}/${ref}`, async () => {
    const url = `/fragments/containers/${enc(host)}/${ref}/row${location.search}`;
    try {
      const html = await fragment(url, { Accept: "text/html" });
      const row = document.getElementById(rowId(host, id));
      if (html === null) {
        if (row) {
          removeRow(row);
        }
      } else {
        placeRow(html);
      }
    } catch (error) {
      document.getElementById(rowId(host, id))?.classList.add("row-error");
      status(`Could not refresh a row: ${error.message}.`, "error");
    }
  });
}

const listRuns = new Map();

/** Re-fetch the whole list region, keeping selections, open details and focus. */
function refreshList() {
  return coalesce(listRuns, "list", async () => {
    let html;
    try {
      html = await fragment(`/containers${location.search}`, { "X-Fragment": "list" });
    } catch (error) {
      status(`Could not refresh the list: ${error.message}.`, "error");
      return;
    }
    const fresh = html && parse(html).getElementById("list-region");
    if (!fresh) {
      return;
    }
    if (menu) {
      closeMenu(false);
    }
    const picked = new Set(selectedRows().map((r) => r.id));
    const open = [...region.querySelectorAll("tr.row")].filter(expanded)
      .map((row) => [row.id, detailsOf(row)]);
    const focusId = document.activeElement?.closest?.("tr.row")?.id;
    region.replaceWith(fresh);
    region = fresh;
    restorePicks(picked);
    for (const [id, details] of open) {
      const row = document.getElementById(id);
      if (row && details) {
        row.querySelector(".disclose")?.setAttribute("aria-expanded", "true");
        row.after(details);
      }
    }
    if (focusId) {
      document.getElementById(focusId)?.querySelector(".disclose")?.focus();
    }
    const link = document.getElementById("tag-styles");
    if (link && region.dataset.tagsCss && link.getAttribute("href") !== region.dataset.tagsCss) {
      link.href = region.dataset.tagsCss;
    }
    applySearch();
    updateBulk();
  });
}

// -- details ------------------------------------------------------------------------------------

async function loadDetails(row, cell) {
  const loading = document.createElement("p");
  loading.className = "muted";
  loading.textContent = "Loading details…";
  cell.replaceChildren(loading);
  const url = `/fragments/containers/${enc(row.dataset.host)}/${refOf(row)}/details`;
  try {
    const html = await fragment(url, { Accept: "text/html" });
    if (html === null) {
      throw new Error("this container no longer exists");
    }
    cell.innerHTML = html;
  } catch (error) {
    const message = document.createElement("p");
    message.className = "notice notice-error";
    message.textContent = `Could not load the details: ${error.message}. `;
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "details-retry";
    retry.textContent = "Retry";
    message.append(retry);
    cell.replaceChildren(message);
  }
}

function toggleDetails(row) {
  const open = !expanded(row);
  row.querySelector(".disclose").setAttribute("aria-expanded", String(open));
  let details = detailsOf(row);
  if (details) {
    details.hidden = !open;
    return;
  }
  if (!open) {
    return;
  }
  details = document.createElement("tr");
  details.className = "details";
  details.id = `d-${row.id}`;
  const cell = document.createElement("td");
  cell.colSpan = Number(region.dataset.cols) || 8;
  details.append(cell);
  row.after(details);
  loadDetails(row, cell);
}

/** Re-load the details of every open row (their tag choices changed). */
function reloadOpenDetails() {
  for (const row of region.querySelectorAll("tr.row")) {
    const cell = detailsOf(row)?.firstElementChild;
    if (cell) {
      loadDetails(row, cell);
    }
  }
}

function toggleSecret(button) {
  const value = button.parentElement.querySelector(".secret");
  const mask = button.parentElement.querySelector(".mask");
  const show = button.getAttribute("aria-pressed") !== "true";
  value.hidden = !show;
  mask.hidden = show;
  button.setAttribute("aria-pressed", String(show));
  button.textContent = show ? "Hide" : "Reveal";
}

async function saveMeta(form) {
  const note = form.querySelector(".meta-status");
  const path = `/hosts/${enc(form.dataset.host)}/containers/${enc(form.dataset.ref)}`;
  const tags = [...form.querySelectorAll('input[name="tag"]:checked')].map((i) => Number(i.value));
  const url = form.elements.web_url.value.trim() || null;
  note.hidden = false;
  note.className = "meta-status";
  note.textContent = "Saving…";
  try {
    await api("PUT", `${path}/tags`, { tags });
    await api("PUT", `${path}/link`, { url });
    note.textContent = "Saved.";
  } catch (error) {
    note.className = "meta-status error";
    note.textContent = error.message;
  }
  refreshRow(form.dataset.host, form.dataset.ref);
}

// -- dialogs ------------------------------------------------------------------------------------

function confirmAction(title, text, label) {
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  const ok = document.getElementById("confirm-ok");
  ok.textContent = label;
  ok.classList.toggle("danger", label !== "Restart" && label !== "Update");
  return ask(document.getElementById("confirm-dialog"));
}

async function askRename(name) {
  const input = document.getElementById("rename-name");
  input.value = name;
  const shown = ask(document.getElementById("rename-dialog"));
  input.select();
  return (await shown) ? input.value.trim() : null;
}

/** Ask how to delete `rows`; a single running container must be forced. */
async function askRemove(rows) {
  const running = rows.filter((r) => ACTIVE.has(r.dataset.state)).length;
  const volumes = document.getElementById("remove-volumes");
  const force = document.getElementById("remove-force");
  document.getElementById("remove-text").textContent = rows.length === 1
    ? `Delete ${rows[0].dataset.name} on ${rows[0].dataset.host}? This cannot be undone.`
    : `Delete ${rows.length} containers? This cannot be undone.`;
  document.getElementById("remove-force-row").hidden = running === 0;
  document.getElementById("remove-force-text").textContent = rows.length === 1
    ? "Force: it is running; kill it first" : `Force: kill the ${running} running ones first`;
  volumes.checked = false;
  force.checked = false;
  force.required = rows.length === 1 && running > 0;
  if (!(await ask(document.getElementById("remove-dialog")))) {
    return null;
  }
  return { volumes: volumes.checked, force: force.checked };
}

// -- actions ------------------------------------------------------------------------------------

async function runAction(row, action) {
  const { name, host } = row.dataset;
  const id = refOf(row);
  let body = {};
  if (action === "stop" || action === "kill") {
    const verb = VERB[action];
    const text = action === "stop"
      ? `${name} on ${host} will be asked to stop, then killed if it does not.`
      : `${name} on ${host} will be killed at once (SIGKILL).`;
    if (!(await confirmAction(`${verb} ${name}?`, text, verb))) {
      return;
    }
  } else if (action === "rename") {
    const newName = await askRename(name);
    if (!newName || newName === name) {
      return;
    }
    body = { name: newName };
  } else if (action === "remove") {
    const options = await askRemove([row]);
    if (!options) {
      return;
    }
    body = options;
  }
  status(`${DOING[action]} ${name}…`);
  try {
    const result = await api("POST", `${containerPath(row)}/${action}`, body);
    status(result.changed === false ? `${name} was already ${DONE[action]}.`
      : `${name} ${DONE[action]}.`);
    if (action === "remove") {
      // Nothing left to fetch. The row may have been swapped for a newer one meanwhile.
      const current = document.getElementById(row.id);
      if (current) {
        removeRow(current);
      }
      return;
    }
  } catch (error) {
    status(`Could not ${VERB[action].toLowerCase()} ${name}: ${error.message}`, "error");
  }
  await refreshRow(host, id);
}

async function runBulk(action) {
  const rows = selectedRows();
  if (!rows.length) {
    return;
  }
  if (action === "update") {
    await updates.bulk(rows); // long operations: their results follow the event stream
    return;
  }
  let extra = {};
  const many = `${rows.length} container${rows.length === 1 ? "" : "s"}`;
  if (action === "stop" || action === "kill") {
    const verb = VERB[action];
    if (!(await confirmAction(`${verb} ${many}?`, `This will ${action} every selected container.`, verb))) {
      return;
    }
  } else if (action === "remove") {
    extra = await askRemove(rows);
    if (!extra) {
      return;
    }
  }
  status(`${DOING[action]} ${many}…`);
  const targets = rows.map((r) => ({ host: r.dataset.host, ref: refOf(r) }));
  let items;
  try {
    ({ items } = await api("POST", "/containers/actions", { action, targets, ...extra }));
  } catch (error) {
    status(`Could not ${action} the selection: ${error.message}`, "error");
    return;
  }
  showResults(action, items, rows);
  for (const row of rows) {
    refreshRow(row.dataset.host, refOf(row));
  }
}

/** Fill the bulk results panel with `title` and the result items `lis`, and show it. */
function showResultItems(title, lis) {
  document.getElementById("bulk-items").replaceChildren(...lis);
  document.getElementById("bulk-result-title").textContent = title;
  document.getElementById("bulk-result").hidden = false;
}

function showResults(action, items, rows) {
  const names = new Map(rows.map((r) => [`${r.dataset.host}/${refOf(r)}`, r.dataset.name]));
  const failed = items.filter((i) => !i.ok).length;
  const list = document.getElementById("bulk-items");
  list.replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    const name = names.get(`${item.host}/${item.ref}`) || item.ref;
    li.dataset.host = item.host;
    li.dataset.ref = item.ref;
    if (!item.ok) {
      li.className = "result-failed";
      li.textContent = `${name} (${item.host}): failed: ${item.error?.message || "unknown error"}`;
    } else {
      li.className = item.changed ? "result-ok" : "result-unchanged";
      li.textContent = `${name} (${item.host}): ${item.changed ? DONE[action] : "no change needed"}`;
    }
    return li;
  }));
  document.getElementById("bulk-result-title").textContent =
    `${VERB[action]}: ${items.length - failed} succeeded, ${failed} failed`;
  document.getElementById("bulk-result").hidden = false;
  status(failed ? `${failed} of ${items.length} failed; see the results.` : "Done.",
    failed ? "error" : "ok");
}

// -- tags ---------------------------------------------------------------------------------------

const tagsDialog = document.getElementById("tags-dialog");

const tagStatus = (text, kind) => notice(document.getElementById("tags-status"), text, kind);

function tagItem(tag) {
  const li = document.createElement("li");
  const chip = Object.assign(document.createElement("span"), {
    className: `chip tag-${tag.id}`, textContent: tag.name,
  });
  const name = Object.assign(document.createElement("input"), {
    type: "text", value: tag.name, maxLength: 64, required: true,
  });
  name.setAttribute("aria-label", `Name of tag ${tag.name}`);
  const colour = Object.assign(document.createElement("input"), { type: "color", value: tag.colour });
  colour.setAttribute("aria-label", `Colour of tag ${tag.name}`);
  const save = Object.assign(document.createElement("button"), { type: "button", textContent: "Save" });
  const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "Delete" });
  save.addEventListener("click", () => changeTags(
    () => api("PATCH", `/tags/${tag.id}`, { name: name.value.trim(), colour: colour.value }),
    `Tag ${name.value.trim()} saved.`));
  remove.addEventListener("click", () => changeTags(
    () => api("DELETE", `/tags/${tag.id}`), `Tag ${tag.name} deleted.`));
  li.append(chip, name, colour, save, remove);
  return li;
}

async function loadTags() {
  const data = await api("GET", "/tags");
  const tags = Array.isArray(data) ? data : data.items;
  document.getElementById("tags-loading").hidden = true;
  document.getElementById("tag-list").replaceChildren(...tags.map(tagItem));
  // The filter's tag choices follow too.
  const select = document.getElementById("f-tag");
  const current = select.value;
  select.replaceChildren(new Option("Any tag", ""), ...tags.map((t) => new Option(t.name, t.name)));
  select.value = tags.some((t) => t.name === current) ? current : "";
  return tags;
}

async function changeTags(change, done) {
  try {
    await change();
    tagStatus(done);
  } catch (error) {
    tagStatus(error.message, "error");
    return;
  }
  try {
    await loadTags();
  } catch (error) {
    tagStatus(`Could not reload the tags: ${error.message}`, "error");
  }
  await refreshList(); // new chips and the new tag colours stylesheet
  reloadOpenDetails();
}

// -- updates ------------------------------------------------------------------------------------

const updates = containerUpdates({
  dialog: document.getElementById("update-dialog"), // absent for viewers
  status,
  refOf,
  confirm: confirmAction,
  showResults: showResultItems,
});

// -- wiring -------------------------------------------------------------------------------------

main.addEventListener("click", (event) => {
  const target = event.target.closest("button");
  if (!target) {
    return;
  }
  const row = target.closest("tr.row");
  if (target.classList.contains("disclose") && row) {
    toggleDetails(row);
  } else if (target.classList.contains("menu-button") && row) {
    openMenu(target);
  } else if (target.dataset.act && menu?.contains(target)) {
    const acting = target.closest("tr.row");
    closeMenu(true);
    runAction(acting, target.dataset.act);
  } else if (target.id === "menu-update" && row) {
    closeMenu(true);
    updates.open(row);
  } else if (target.id === "check-updates") {
    updates.check(target);
  } else if (target.id === "menu-schedule" && row) {
    // The schedule form, pre-filled for this container: Save is the only click left.
    const query = new URLSearchParams({ host: row.dataset.host, key: row.dataset.key });
    location.assign(`/schedules/new?${query}`);
  } else if (target.dataset.bulk) {
    runBulk(target.dataset.bulk);
  } else if (target.classList.contains("reveal")) {
    toggleSecret(target);
  } else if (target.classList.contains("details-retry")) {
    const details = target.closest("tr.details");
    const owner = document.getElementById(details.id.slice(2));
    if (owner) {
      loadDetails(owner, details.firstElementChild);
    }
  } else if (target.hasAttribute("data-close")) {
    target.closest("dialog")?.close("");
  } else if (target.id === "bulk-result-close") {
    document.getElementById("bulk-result").hidden = true;
  } else if (target.id === "manage-tags") {
    tagStatus("");
    tagsDialog.showModal();
    loadTags().catch((error) => tagStatus(`Could not load the tags: ${error.message}`, "error"));
  }
});

main.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.classList.contains("meta-form")) {
    event.preventDefault();
    saveMeta(form);
  } else if (form.id === "tag-new") {
    event.preventDefault();
    const { name, colour } = form.elements;
    changeTags(async () => {
      await api("POST", "/tags", { name: name.value.trim(), colour: colour.value });
      name.value = "";
    }, `Tag ${name.value.trim()} created.`);
  }
});

// The filters: /containers?state=running, not ?q=&host=&... (grouping by host is the default).
filterForm(filters, "/containers", (key, value) => key === "group" && value === "host");

search?.addEventListener("input", () => {
  applySearch();
  updateBulk();
});

// -- live ---------------------------------------------------------------------------------------

function wanted(host) {
  const only = new URLSearchParams(location.search).get("host");
  return !only || only === host;
}

subscribe("container.changed", (data) => {
  if (!wanted(data.host)) {
    return;
  }
  const row = document.getElementById(rowId(data.host, data.id));
  if (!data.container) {
    if (row) {
      removeRow(row);
    }
    return;
  }
  refreshRow(data.host, data.id);
});

// A check's result changed: the row's badge (and the details' note) follow.
subscribe("update.status", (data) => {
  for (const row of region.querySelectorAll("tr.row")) {
    if (row.dataset.host === data.host && row.dataset.key === data.key) {
      refreshRow(row.dataset.host, refOf(row));
    }
  }
});

subscribe("container.meta", (data) => {
  for (const row of region.querySelectorAll("tr.row")) {
    if (row.dataset.host === data.host && row.dataset.key === data.key) {
      refreshRow(row.dataset.host, refOf(row));
    }
  }
});

// Host status changes the offline notices and the stale marks: one list fetch covers both.
subscribe("host.changed", () => refreshList());
subscribe("lagged", () => refreshList());
subscribe("open", () => refreshList());

subscribe("metrics.sampled", (data) => {
  for (const [id, metrics] of Object.entries(data.items || {})) {
    const row = document.getElementById(rowId(data.host, id));
    if (!row || row.dataset.state !== "running") {
      continue;
    }
    row.querySelector("td.cpu").textContent =
      metrics.cpu_percent == null ? "—" : `${metrics.cpu_percent.toFixed(1)} %`;
    row.querySelector("td.mem").textContent = size(metrics.memory_used);
  }
});

if (search?.value.trim()) {
  // The server filtered by the address's q already, but going back in history a browser
  // restores what was typed in the box: filter by that.
  applySearch();
}
updateBulk();
performance.mark("list-ready");
