// The networks page. The server renders the list and its filters (networks_list.html); this
// module wires behaviour: inspect (the engine's JSON in a dialog), and for operators the row
// menu (connect a container, delete), disconnect buttons, the create and prune dialogs, and
// refreshing the list region when network events arrive (the tab's one event stream, live.js:
// topic "docker.event") or the page's own actions end.
import { api, el, keyValues, notice } from "./api.js";
import { filterForm } from "./filter_form.js";
import { fragmentRefresher } from "./fragment.js";
import { subscribe } from "./live.js";
import { rowMenu } from "./row_menu.js";

const main = document.getElementById("main");
const menu = document.getElementById("row-menu"); // absent for viewers
const menuHome = document.getElementById("menu-home");
let region = document.getElementById("list-region");

const enc = encodeURIComponent;
const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 300;
const status = (text, kind) => notice($("net-status"), text, kind);
const label = (row) => `${row.dataset.name} on ${row.dataset.host}`;

const { open: openMenu, close: closeMenu, across: keepMenu } = rowMenu(menu, menuHome, {
  prepare(row) {
    menu.querySelector('[data-act="delete"]').hidden = row.dataset.predefined === "true";
    menu.querySelector('[data-act="connect"]').hidden = row.dataset.connectable !== "true";
  },
});

function applyList(fresh) {
  const focusId = document.activeElement?.closest?.("tr.row")?.id;
  const menuOpen = Boolean(menu && !menu.hidden);
  keepMenu(() => {
    region.replaceWith(fresh);
    region = fresh;
  });
  if (focusId && !menuOpen) {
    document.getElementById(focusId)?.querySelector(".menu-button, .inspect")?.focus();
  }
}

const { refresh: refreshList, refreshSoon } = fragmentRefresher({
  path: "/networks", fragment: "list", id: "list-region", apply: applyList,
  onError: (error) => status(`Could not refresh the list: ${error.message}.`, "error"),
  debounceMs: DEBOUNCE_MS,
});

// -- inspect --------------------------------------------------------------------------------------

async function inspect(row) {
  const box = $("inspect-json");
  $("inspect-title").textContent = `Network ${label(row)}`;
  box.textContent = "Loading…";
  $("inspect-dialog").showModal();
  try {
    box.textContent = JSON.stringify(await api("GET", row.dataset.api), null, 2);
  } catch (error) {
    box.textContent = `Could not inspect: ${error.message}`;
  }
}

// -- create ---------------------------------------------------------------------------------------

function syncParent() {
  const vlan = $("create-driver").value !== "bridge";
  $("parent-field").hidden = !vlan;
  $("create-parent").required = vlan;
}

async function create(form) {
  const error = $("create-error");
  error.hidden = true;
  const f = form.elements;
  const body = { name: f.name.value.trim(), driver: f.driver.value,
    internal: f.internal.checked, attachable: f.attachable.checked };
  for (const key of ["subnet", "gateway", "ip_range"]) {
    if (f[key].value.trim()) {
      body[key] = f[key].value.trim();
    }
  }
  if (body.driver !== "bridge" && f.parent.value.trim()) {
    body.parent = f.parent.value.trim();
  }
  try {
    body.labels = keyValues(f.labels.value, "Labels");
  } catch (problem) {
    notice(error, problem.message, "error");
    return;
  }
  $("create-ok").disabled = true;
  try {
    const network = await api("POST", `/hosts/${enc(f.host.value)}/networks`, body);
    $("create-dialog").close();
    status(`Created network ${network.name} on ${network.host}.`);
    refreshList();
  } catch (problem) {
    notice(error, problem.message, "error");
  } finally {
    $("create-ok").disabled = false;
  }
}

// -- connect, disconnect, delete ------------------------------------------------------------------

let acting = null; // the row a dialog is about
let confirmAction = null; // what the confirm dialog's submit does

async function openConnect(row) {
  acting = row;
  const select = $("connect-container");
  $("connect-form").reset();
  $("connect-error").hidden = true;
  $("connect-title").textContent = `Connect a container to ${row.dataset.name}`;
  select.replaceChildren();
  $("connect-dialog").showModal();
  let items;
  try {
    ({ items } = await api("GET", `/hosts/${enc(row.dataset.host)}/containers`));
  } catch (error) {
    notice($("connect-error"), `Could not list the containers: ${error.message}`, "error");
    return;
  }
  const attached = new Set(row.dataset.members ? row.dataset.members.split(",") : []);
  const free = items.map((c) => c.name).filter((n) => !attached.has(n)).sort();
  select.replaceChildren(...free.map((n) => el("option", { value: n, textContent: n })));
  $("connect-none").hidden = free.length > 0;
  $("connect-ok").disabled = free.length === 0;
  select.focus();
}

async function connect(form) {
  const row = acting;
  const f = form.elements;
  const body = { container: f.container.value };
  const aliases = f.aliases.value.split(",").map((a) => a.trim()).filter(Boolean);
  if (aliases.length) {
    body.aliases = aliases;
  }
  if (f.ipv4_address.value.trim()) {
    body.ipv4_address = f.ipv4_address.value.trim();
  }
  $("connect-ok").disabled = true;
  try {
    await api("POST", `${row.dataset.api}/connect`, body);
    $("connect-dialog").close();
    status(`Connected ${body.container} to ${label(row)}.`);
    refreshList();
  } catch (problem) {
    notice($("connect-error"), problem.message, "error");
  } finally {
    $("connect-ok").disabled = false;
  }
}

function confirm(title, text, users, button, action) {
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  notice($("confirm-users"), users, "warn");
  $("confirm-error").hidden = true;
  $("confirm-ok").textContent = button;
  confirmAction = action;
  $("confirm-dialog").showModal();
  $("confirm-ok").focus();
}

function askDelete(row) {
  const members = row.dataset.members ? row.dataset.members.split(",").join(", ") : "";
  confirm("Delete network", `Delete network ${label(row)}?`,
    members ? `In use by ${members}: disconnect them first, or the engine refuses.` : "", "Delete",
    async () => {
      await api("DELETE", row.dataset.api);
      status(`Network ${label(row)} deleted.`);
    });
}

function askDisconnect(row, container) {
  confirm("Disconnect container", `Disconnect ${container} from ${label(row)}?`, "", "Disconnect",
    async () => {
      await api("POST", `${row.dataset.api}/disconnect`, { container });
      status(`Disconnected ${container} from ${label(row)}.`);
    });
}

async function runConfirm() {
  $("confirm-ok").disabled = true;
  try {
    await confirmAction();
  } catch (problem) {
    notice($("confirm-error"), problem.message, "error");
    return;
  } finally {
    $("confirm-ok").disabled = false;
  }
  $("confirm-dialog").close();
  refreshList();
}

async function prune(form) {
  const box = $("prune-result");
  const host = form.elements.host.value;
  $("prune-ok").disabled = true;
  notice(box, `Pruning on ${host}…`);
  try {
    const done = await api("POST", `/hosts/${enc(host)}/networks/prune`, {});
    const names = done.deleted || [];
    notice(box, names.length ? `Deleted on ${host}: ${names.join(", ")}.` : `Nothing to prune on ${host}.`);
    status(box.textContent);
    refreshList();
  } catch (problem) {
    notice(box, `Could not prune on ${host}: ${problem.message}`, "error");
  } finally {
    $("prune-ok").disabled = false;
  }
}

// -- wiring ---------------------------------------------------------------------------------------

main.addEventListener("click", (event) => {
  const target = event.target.closest("button");
  if (!target) {
    return;
  }
  const row = target.closest("tr.row");
  if (target.classList.contains("menu-button") && row) {
    openMenu(target);
  } else if (target.classList.contains("inspect") && row) {
    inspect(row);
  } else if (target.classList.contains("disconnect") && row) {
    askDisconnect(row, target.dataset.container);
  } else if (target.dataset.act && menu?.contains(target)) {
    closeMenu(false);
    const act = target.dataset.act;
    if (act === "inspect") {
      inspect(row);
    } else if (act === "connect") {
      openConnect(row);
    } else if (act === "delete") {
      askDelete(row);
    }
  } else if (target.id === "open-create") {
    $("create-form").reset();
    $("create-error").hidden = true;
    syncParent();
    $("create-dialog").showModal();
    $("create-name").focus();
  } else if (target.id === "open-prune") {
    $("prune-result").hidden = true;
    $("prune-dialog").showModal();
  } else if (target.hasAttribute("data-close")) {
    target.closest("dialog")?.close();
  }
});

main.addEventListener("submit", (event) => {
  const handlers = { "create-form": create, "connect-form": connect, "confirm-form": runConfirm,
    "prune-form": prune };
  const handler = handlers[event.target.id];
  if (handler) {
    event.preventDefault();
    handler(event.target);
  }
});
$("create-driver")?.addEventListener("change", syncParent);

filterForm($("filters"), "/networks");

// Network events (create, destroy, connect, disconnect) change the list; a container started,
// stopped or removed changes the addresses shown ("container.changed" comes once the server's
// cache, where the members come from, has the change).
subscribe("docker.event", (data) => {
  if (data.type === "network") {
    refreshSoon();
  }
});
const MEMBERSHIP = new Set(["create", "start", "die", "stop", "destroy", "rename", "sync"]);
subscribe("container.changed", (data) => {
  if (MEMBERSHIP.has(data.action) || !data.container) {
    refreshSoon();
  }
});
subscribe("lagged", () => refreshList());
subscribe("open", () => refreshList());

performance.mark("list-ready");
