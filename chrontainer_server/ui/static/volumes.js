// The volumes page. The server renders the list, its filters, sort and size charts
// (volumes_list.html); this module wires behaviour: the shared row menu (browse, backup,
// restore, delete), the create, delete and prune dialogs, the restore dialog
// (volume_restore.js), and refreshing the list region when volume events arrive (the tab's one
// event stream, live.js: topic "docker.event") or the page's own actions end.
import { api, keyValues, notice, size } from "./api.js";
import { filterForm } from "./filter_form.js";
import { fragmentRefresher } from "./fragment.js";
import { subscribe } from "./live.js";
import { rowMenu } from "./row_menu.js";
import { restoreDialog } from "./volume_restore.js";

const main = document.getElementById("main");
const statusBox = document.getElementById("vol-status");
const menu = document.getElementById("row-menu"); // absent for viewers
const menuHome = document.getElementById("menu-home");
let region = document.getElementById("list-region");

const enc = encodeURIComponent;
const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 400; // a container removal with -v destroys several volumes at once

const status = (text, kind) => notice(statusBox, text, kind);
const label = (row) => `${row.dataset.name} on ${row.dataset.host}`;

let acting = null; // the row the open menu or dialog is about

const { open: openMenu, close: closeMenu, across: keepMenu } = rowMenu(menu, menuHome, {
  prepare(row) {
    acting = row;
    $("menu-browse").href = row.dataset.href;
    $("menu-backup").href = row.dataset.backup;
  },
});

// -- the list region ----------------------------------------------------------------------------

function applyList(fresh) {
  const focusId = document.activeElement?.closest?.("tr.row")?.id;
  const menuOpen = Boolean(menu && !menu.hidden);
  keepMenu(() => {
    region.replaceWith(fresh);
    region = fresh;
  });
  if (focusId && !menuOpen) {
    document.getElementById(focusId)?.querySelector(".menu-button, a")?.focus();
  }
}

const { refresh: refreshList, refreshSoon } = fragmentRefresher({
  path: "/volumes", fragment: "list", id: "list-region", apply: applyList,
  onError: (error) => status(`Could not refresh the list: ${error.message}.`, "error"),
  debounceMs: DEBOUNCE_MS,
});

// -- create ---------------------------------------------------------------------------------------

async function create(form) {
  const error = $("create-error");
  error.hidden = true;
  let body;
  try {
    body = {
      name: form.elements.name.value.trim(),
      driver: form.elements.driver.value.trim() || "local",
      driver_opts: keyValues(form.elements.driver_opts.value, "Driver options"),
      labels: keyValues(form.elements.labels.value, "Labels"),
    };
  } catch (problem) {
    notice(error, problem.message, "error");
    return;
  }
  const host = form.elements.host.value;
  $("create-ok").disabled = true;
  try {
    const volume = await api("POST", `/hosts/${enc(host)}/volumes`, body);
    $("create-dialog").close();
    status(`Created volume ${volume.name} on ${host}.`);
    refreshList();
  } catch (problem) {
    notice(error, problem.message, "error");
  } finally {
    $("create-ok").disabled = false;
  }
}

function openCreate() {
  $("create-form").reset();
  $("create-error").hidden = true;
  $("create-dialog").showModal();
  $("create-name").focus();
}

// -- delete ---------------------------------------------------------------------------------------

function openDelete(row) {
  acting = row;
  $("delete-text").textContent = `Delete volume ${label(row)}? Its data is deleted for good.`;
  const users = row.dataset.users;
  // The row knows who uses it: say so before the user confirms (the API refuses it anyway).
  notice($("delete-users"), users ? `In use by ${users}: the engine refuses to delete it while they exist.` : "", "warn");
  $("delete-error").hidden = true;
  $("delete-dialog").showModal();
  $("delete-ok").focus();
}

async function remove() {
  const row = acting;
  $("delete-ok").disabled = true;
  try {
    await api("DELETE", row.dataset.api);
  } catch (problem) {
    notice($("delete-error"), problem.message, "error");
    return;
  } finally {
    $("delete-ok").disabled = false;
  }
  $("delete-dialog").close();
  status(`Volume ${label(row)} deleted.`);
  document.getElementById(row.id)?.remove();
  refreshList();
}

// -- prune ----------------------------------------------------------------------------------------

async function prune(form) {
  const box = $("prune-result");
  const host = form.elements.host.value;
  const all = form.elements.scope.value === "all";
  $("prune-ok").disabled = true;
  notice(box, `Pruning on ${host}…`);
  try {
    const done = await api("POST", `/hosts/${enc(host)}/volumes/prune`, { all });
    const count = done.deleted?.length || 0;
    notice(box, count
      ? `Deleted ${count} volume${count === 1 ? "" : "s"} on ${host}, reclaimed ${size(done.reclaimed_bytes)}.`
      : `Nothing to prune on ${host}: reclaimed 0 B.`);
    status(box.textContent);
    refreshList();
  } catch (problem) {
    notice(box, `Could not prune on ${host}: ${problem.message}`, "error");
  } finally {
    $("prune-ok").disabled = false;
  }
}

// -- wiring ---------------------------------------------------------------------------------------

const openRestore = menu ? restoreDialog((result) => {
  status(`Restored ${result.volume} on ${result.host}.`);
  refreshList();
}) : null;

main.addEventListener("click", (event) => {
  const target = event.target.closest("button");
  if (!target) {
    return;
  }
  if (target.classList.contains("menu-button") && target.closest("tr.row")) {
    openMenu(target);
  } else if (target.dataset.act && menu?.contains(target)) {
    const row = target.closest("tr.row");
    closeMenu(false);
    if (target.dataset.act === "delete") {
      openDelete(row);
    } else if (target.dataset.act === "restore") {
      openRestore({ host: row.dataset.host, name: row.dataset.name });
    }
  } else if (target.id === "open-create") {
    openCreate();
  } else if (target.id === "open-restore-new") {
    openRestore(null);
  } else if (target.id === "open-prune") {
    $("prune-result").hidden = true;
    $("prune-dialog").showModal();
  } else if (target.hasAttribute("data-close")) {
    target.closest("dialog")?.close();
  }
});

main.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.id === "create-form") {
    event.preventDefault();
    create(form);
  } else if (form.id === "delete-form") {
    event.preventDefault();
    remove();
  } else if (form.id === "prune-form") {
    event.preventDefault();
    prune(form);
  }
});

filterForm($("filters"), "/volumes");

// -- live -----------------------------------------------------------------------------------------

// Volume create/destroy change the list. A container created or removed changes who uses a
// volume: "container.changed" comes once the server's cache has it (the engine's own event
// may arrive before). Mount/unmount are containers starting and stopping: nothing shown here.
subscribe("docker.event", (data) => {
  if (data.type === "volume" && (data.action === "create" || data.action === "destroy")) {
    refreshSoon();
  }
});
subscribe("container.changed", (data) => {
  if (data.action === "create" || data.action === "destroy" || !data.container) {
    refreshSoon();
  }
});
subscribe("lagged", () => refreshList());
subscribe("open", () => refreshList());

performance.mark("list-ready");
