// The hosts page: live rows, details on expand, and (for admins) add/edit/test/remove through
// the JSON API. Rows and details are rendered by the server (/fragments/hosts/...); this module
// only fetches and places them. Live changes come from live.js ("host.changed"), never polling.
import { api, say } from "./api.js";
import { subscribe } from "./live.js";

const table = document.getElementById("host-list");
const body = table.tBodies[0];
const empty = document.getElementById("hosts-empty");
const manage = table.dataset.manage === "true";
const latest = new Map(); // slug -> number of its newest row request (older answers are dropped)
let requests = 0;

function status(text, ok = true) {
  const region = document.getElementById("hosts-status");
  region.classList.toggle("notice-ok", ok);
  region.classList.toggle("notice-error", !ok);
  say("hosts-status", text);
}

function rowOf(slug) {
  return document.getElementById(`host-${slug}`);
}

function detailsOf(slug) {
  return document.getElementById(`host-${slug}-info`);
}

/** Parse server-rendered HTML holding one element (a <tr> parses only inside <template>). */
function parse(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

async function fragment(path) {
  const response = await fetch(path, { headers: { Accept: "text/html" }, credentials: "same-origin" });
  const html = response.headers.get("Content-Type")?.startsWith("text/html") ? await response.text() : null;
  return { response, html };
}

function showEmpty() {
  const none = body.rows.length === 0;
  empty.hidden = !none;
  table.hidden = none;
}

/** Replace the host's row with a fresh server-rendered one, add it when new, drop it if gone. */
async function refreshRow(slug) {
  const mine = ++requests;
  latest.set(slug, mine);
  let result;
  try {
    result = await fragment(`/fragments/hosts/${encodeURIComponent(slug)}/row`);
  } catch {
    return; // offline browser: the next event or reconnect refreshes it
  }
  if (latest.get(slug) !== mine) {
    return; // a newer request for this host is on its way
  }
  const { response, html } = result;
  if (response.status === 404) {
    removeRow(slug);
    return;
  }
  if (!response.ok || !html) {
    return;
  }
  const fresh = parse(html);
  const old = rowOf(slug);
  if (old) {
    // Keep the expanded state across the swap, and focus if it was inside the row.
    const expanded = old.querySelector('[data-action="details"]').getAttribute("aria-expanded");
    fresh.querySelector('[data-action="details"]').setAttribute("aria-expanded", expanded);
    if (expanded === "true") {
      fresh.querySelector('[data-action="details"]').setAttribute("aria-controls", `host-${slug}-info`);
    }
    const focused = old.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    old.replaceWith(fresh);
    if (focused) {
      fresh.querySelector(`[data-action="${focused}"]`)?.focus();
    }
  } else {
    body.append(fresh);
  }
  showEmpty();
}

function removeRow(slug) {
  rowOf(slug)?.remove();
  detailsOf(slug)?.remove();
  latest.delete(slug);
  showEmpty();
}

// --- details on expand ---------------------------------------------------------------------

async function loadInfo(slug, refresh = false) {
  const box = detailsOf(slug)?.querySelector(".host-info");
  if (!box) {
    return;
  }
  box.setAttribute("aria-busy", "true");
  box.replaceChildren(refresh ? "Reading disk usage again…" : "Loading host info…");
  const query = refresh ? "?refresh=1" : "";
  try {
    const { response, html } = await fragment(`/fragments/hosts/${encodeURIComponent(slug)}/info${query}`);
    if (html) {
      box.replaceChildren(parse(html)); // also the 502 fragment naming the engine's error
    } else {
      const data = await response.json().catch(() => null);
      box.replaceChildren(errorNotice(data?.error?.message || `request failed (${response.status})`));
    }
  } catch (error) {
    box.replaceChildren(errorNotice(`Could not load the details: ${error.message}`));
  } finally {
    box.removeAttribute("aria-busy");
  }
}

function errorNotice(text) {
  const p = document.createElement("p");
  p.className = "notice notice-error";
  p.setAttribute("role", "alert");
  p.textContent = text;
  return p;
}

function toggleDetails(row, button) {
  const slug = row.dataset.host;
  const open = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", String(open));
  let details = detailsOf(slug);
  if (!open) {
    details?.remove(); // collapsing forgets it; expanding again shows the cached reading
    return;
  }
  if (!details) {
    const cell = document.createElement("td");
    cell.colSpan = row.cells.length;
    const box = document.createElement("div");
    box.className = "host-info";
    box.setAttribute("aria-live", "polite");
    cell.append(box);
    details = document.createElement("tr");
    details.id = `host-${slug}-info`;
    details.className = "host-details";
    details.dataset.host = slug;
    details.append(cell);
    row.after(details);
  }
  button.setAttribute("aria-controls", details.id);
  loadInfo(slug);
}

// --- management (admins) -------------------------------------------------------------------

/** The form's field errors: clear them all, then show the API's error next to its field. */
function clearErrors(form) {
  for (const element of form.querySelectorAll(".error")) {
    element.hidden = true;
    element.textContent = "";
  }
  for (const element of form.querySelectorAll("[aria-invalid]")) {
    element.removeAttribute("aria-invalid");
  }
}

function fieldError(form, prefix, field, message) {
  const id = `${prefix}-${field.replaceAll(".", "-")}`;
  const slot = document.getElementById(`${id}-error`);
  // A field inside a hidden part of the form (TLS not chosen) cannot show its error.
  if (!slot || !form.contains(slot) || slot.parentElement.closest("[hidden]")) {
    return false;
  }
  // "url: has 'http://'..." -> "has 'http://'...": the field is already named by its label.
  slot.textContent = message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
  slot.hidden = false;
  const input = document.getElementById(id);
  input?.setAttribute("aria-invalid", "true");
  return true;
}

/** Show an ApiError: per-field errors next to their fields, anything else via `other`. */
function showError(form, prefix, error, other) {
  clearErrors(form);
  const problems = error.details?.errors || (error.details?.field ? [{ field: error.details.field, message: error.message }] : []);
  let placed = false;
  let first = null;
  for (const { field, message } of problems) {
    if (fieldError(form, prefix, field, message)) {
      placed = true;
      first ??= document.getElementById(`${prefix}-${field.replaceAll(".", "-")}`);
    }
  }
  if (placed) {
    first?.focus();
    other("");
  } else {
    other(error.message);
  }
}

function tlsMaterial(prefix) {
  const value = (name) => document.getElementById(`${prefix}-tls-${name}`).value;
  return { ca_cert: value("ca_cert"), client_cert: value("client_cert"), client_key: value("client_key") };
}

function describe(version) {
  const platform = [version.os, version.arch].filter(Boolean).join("/");
  return `Docker ${version.version} (API ${version.api_version}${platform ? `, ${platform}` : ""})`;
}

async function busy(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

function setupAdd() {
  const form = document.getElementById("host-add");
  const useTls = document.getElementById("host-add-use-tls");
  const tls = document.getElementById("host-add-tls");
  const result = (text, ok = false) => {
    const region = document.getElementById("host-add-result");
    region.classList.toggle("notice-ok", ok);
    region.classList.toggle("notice-error", !ok);
    say("host-add-result", text);
  };
  useTls.addEventListener("change", () => {
    tls.hidden = !useTls.checked;
  });
  const read = () => {
    const slug = form.elements.slug.value.trim();
    const name = form.elements.name.value.trim();
    const body = { slug, url: form.elements.url.value.trim() };
    if (name) {
      body.name = name;
    }
    if (useTls.checked) {
      body.tls = tlsMaterial("host-add");
    }
    return body;
  };
  form.querySelector('[data-action="test-new"]').addEventListener("click", (event) => {
    const { url, tls: material } = read();
    busy(event.currentTarget, async () => {
      result("Connecting…", true);
      try {
        const version = await api("POST", "/hosts/test", material ? { url, tls: material } : { url });
        clearErrors(form);
        result(`Connected: ${describe(version)}.`, true);
      } catch (error) {
        showError(form, "host-add", error, (text) => result(text ? `Connection failed: ${text}` : ""));
      }
    });
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const submit = form.querySelector('button[type="submit"]');
    busy(submit, async () => {
      result("");
      try {
        const host = await api("POST", "/hosts", read());
        clearErrors(form);
        form.reset();
        tls.hidden = true;
        await refreshRow(host.slug);
        status(`Host ${host.name} added.`);
      } catch (error) {
        showError(form, "host-add", error, (text) => result(text));
      }
    });
  });
}

function setupEdit() {
  const dialog = document.getElementById("host-edit");
  const form = document.getElementById("host-edit-form");
  const mode = document.getElementById("host-edit-tls-mode");
  const tls = document.getElementById("host-edit-tls");
  const result = (text) => say("host-edit-result", text);
  let slug = null;
  mode.addEventListener("change", () => {
    tls.hidden = mode.value !== "set";
  });
  form.querySelector('[data-action="close"]').addEventListener("click", () => dialog.close());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { name: form.elements.name.value.trim(), url: form.elements.url.value.trim() };
    if (mode.value === "set") {
      body.tls = tlsMaterial("host-edit");
    } else if (mode.value === "remove") {
      body.tls = null;
    }
    busy(form.querySelector('button[type="submit"]'), async () => {
      result("");
      try {
        const host = await api("PATCH", `/hosts/${encodeURIComponent(slug)}`, body);
        dialog.close();
        await refreshRow(host.slug);
        status(`Host ${host.name} saved.`);
      } catch (error) {
        showError(form, "host-edit", error, result);
      }
    });
  });
  return (row) => {
    slug = row.dataset.host;
    form.reset();
    clearErrors(form);
    result("");
    document.getElementById("host-edit-slug").textContent = slug;
    form.elements.name.value = row.dataset.name;
    form.elements.url.value = row.dataset.url;
    const hasTls = row.dataset.tls === "true";
    mode.options[0].textContent = hasTls ? "Keep the current certificates" : "None";
    mode.options[1].textContent = hasTls ? "Replace the certificates" : "Use TLS certificates";
    mode.options[2].hidden = !hasTls;
    mode.options[2].disabled = !hasTls;
    tls.hidden = true;
    returnFocus(dialog, row, "edit");
    dialog.showModal();
  };
}

function setupRemove() {
  const dialog = document.getElementById("host-remove");
  const form = document.getElementById("host-remove-form");
  const result = (text) => say("host-remove-result", text);
  let target = null;
  form.querySelector('[data-action="close"]').addEventListener("click", () => dialog.close());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { host, name } = target;
    busy(form.querySelector('button[type="submit"]'), async () => {
      try {
        await api("DELETE", `/hosts/${encodeURIComponent(host)}`);
        // The row (and the button that opened this) is gone: focus the status message.
        dialog.dataset.returnAction = "";
        dialog.close();
        removeRow(host);
        status(`Host ${name} removed.`);
        document.getElementById("hosts-status").focus();
      } catch (error) {
        result(error.message);
      }
    });
  });
  return (row) => {
    target = { host: row.dataset.host, name: row.dataset.name };
    document.getElementById("host-remove-name").textContent = `${target.name} (${target.host})`;
    result("");
    returnFocus(dialog, row, "remove");
    dialog.showModal();
  };
}

async function testHost(row, button) {
  const { host, name } = row.dataset;
  await busy(button, async () => {
    status(`Testing ${name}…`);
    try {
      const version = await api("POST", `/hosts/${encodeURIComponent(host)}/test`);
      status(`${name}: connected to ${describe(version)}.`);
    } catch (error) {
      status(`${name}: connection failed: ${error.message}`, false);
    }
  });
}

// Closing a dialog returns focus to the button that opened it, looked up again by host:
// the row may have been re-rendered meanwhile.
function returnFocus(dialog, row, action) {
  dialog.dataset.returnHost = row.dataset.host;
  dialog.dataset.returnAction = action;
}

for (const dialog of document.querySelectorAll("dialog")) {
  dialog.addEventListener("close", () => {
    const { returnHost, returnAction } = dialog.dataset;
    if (returnHost && returnAction) {
      rowOf(returnHost)?.querySelector(`[data-action="${returnAction}"]`)?.focus();
    }
  });
}

const openEdit = manage ? setupEdit() : null;
const openRemove = manage ? setupRemove() : null;
if (manage) {
  setupAdd();
}

body.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) {
    return;
  }
  const row = button.closest("tr");
  const action = button.dataset.action;
  if (action === "details") {
    toggleDetails(row, button);
  } else if (action === "info-retry") {
    loadInfo(row.dataset.host);
  } else if (action === "info-refresh") {
    loadInfo(row.dataset.host, true);
  } else if (action === "edit" && openEdit) {
    openEdit(row);
  } else if (action === "remove" && openRemove) {
    openRemove(row);
  } else if (action === "test" && manage) {
    testHost(row, button);
  }
});

// Live: a host that changed (status, name, version...) gets its row again; after a reconnect
// or a lag, every row (changes may have been missed).
subscribe("host.changed", (data) => {
  if (data?.host?.slug) {
    refreshRow(data.host.slug);
  }
});
const resync = () => {
  for (const row of [...body.querySelectorAll("tr.host-row")]) {
    refreshRow(row.dataset.host);
  }
};
subscribe("open", resync);
subscribe("lagged", resync);
