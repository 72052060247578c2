// The notifications page: add, edit, enable, test and delete channels, and save the routing
// matrix, all through the JSON API. Secrets are write-only: an edit never shows them, and a
// secret input left empty keeps the stored value (the API keeps what is left out). After a
// change the page is fetched again and its list and matrix swapped (the server renders them).
import { api, report, say } from "./api.js";
import { deleteConfirmation } from "./dialogs.js";
import { fetchItem, formMode, saveForm } from "./item_form.js";
import { FieldErrors, fetchPage, swapParts } from "./schedules_shared.js";

const form = document.getElementById("channel-form");
const kindSelect = document.getElementById("ch-kind");
const title = document.getElementById("channel-form-title");
const saveButton = document.getElementById("channel-save");
const cancelButton = document.getElementById("channel-cancel");
const formParts = { title, saveButton, cancelButton };
const dialog = document.getElementById("channel-confirm");
const headerTemplate = document.getElementById("header-row-template");

let editing = null; // the channel being edited (API answer), or null when adding
let routingDirty = false;

const status = (text, ok) => report("notifications-status", text, ok);

function fieldset(kind = kindSelect.value) {
  return document.getElementById(`ch-fields-${kind}`);
}

function configInputs(kind) {
  return [...fieldset(kind).querySelectorAll("[data-config]")];
}

// -- field errors -----------------------------------------------------------------------------

function errorIds() {
  const ids = { name: "ch-name", kind: "ch-kind" };
  for (const input of configInputs(kindSelect.value)) {
    let target = input.id;
    if (input.dataset.type === "headers") {
      // A bad header is shown by the header fields; the first name input takes the focus.
      const first = input.querySelector("input");
      target = [first?.id || `${input.id}-add`, `${input.id}-error`];
    }
    ids[`config.${input.dataset.config}`] = target;
  }
  return ids;
}

const errors = new FieldErrors(form, errorIds, "ch-form-error");

function showError(error) {
  // "config.headers.X-Token" and "config.recipients[1]" are about "config.headers" and
  // "config.recipients".
  const match = /^config\.(\w+)/.exec(error.details?.field || "");
  if (match) {
    error.details.field = `config.${match[1]}`;
  }
  (errors.show(error) || document.getElementById("ch-form-error")).focus();
}

// -- the kind's fields --------------------------------------------------------------------------

function showKind() {
  for (const set of form.querySelectorAll("fieldset.kind-fields")) {
    const active = set.dataset.kind === kindSelect.value;
    set.hidden = !active;
    set.disabled = !active;
  }
}

let headerCount = 0;

function addHeaderRow(container, name = "") {
  const row = headerTemplate.content.firstElementChild.cloneNode(true);
  headerCount += 1;
  const [nameInput, valueInput] = row.querySelectorAll("input");
  nameInput.id = `${container.id}-name-${headerCount}`;
  valueInput.id = `${container.id}-value-${headerCount}`;
  const position = container.children.length + 1;
  nameInput.setAttribute("aria-label", `Header ${position} name`);
  valueInput.setAttribute("aria-label", `Header ${position} value`);
  row.querySelector("button").setAttribute("aria-label", `Remove header ${position}`);
  nameInput.value = name;
  container.append(row);
  return nameInput;
}

function readValue(input) {
  const value = input.value?.trim();
  switch (input.dataset.type) {
    case "check":
      return input.checked;
    case "number":
      return value === "" ? undefined : Number(value);
    case "tags":
      return value.split(/[\s,]+/).filter(Boolean);
    case "lines":
      return value.split(/[\n,;]+/).map((line) => line.trim()).filter(Boolean);
    case "headers": {
      const headers = {};
      for (const row of input.querySelectorAll(".header-row")) {
        const [name, text] = row.querySelectorAll("input");
        if (name.value.trim()) {
          headers[name.value.trim()] = text.value;
        }
      }
      return Object.keys(headers).length ? headers : undefined;
    }
    default:
      return value === "" ? undefined : value;
  }
}

/** The config object of the chosen kind, as the API takes it. */
function configBody() {
  const config = {};
  for (const input of configInputs(kindSelect.value)) {
    const name = input.dataset.config;
    const clear = fieldset().querySelector(`[data-clears="${name}"]`);
    if (clear && !clear.closest(".secret-clear").hidden && clear.checked) {
      // An empty value removes an optional secret (an empty object, the headers).
      config[name] = input.dataset.type === "headers" ? {} : "";
      continue;
    }
    const value = readValue(input);
    // Left out, a secret keeps its stored value; other fields take their default.
    if (value !== undefined) {
      config[name] = value;
    }
  }
  return config;
}

// -- add and edit -------------------------------------------------------------------------------

function resetSecrets() {
  for (const state of form.querySelectorAll(".secret-state")) {
    state.hidden = true;
    state.textContent = "";
  }
  for (const clear of form.querySelectorAll(".secret-clear")) {
    clear.hidden = true;
  }
  for (const rows of form.querySelectorAll(".header-rows")) {
    rows.replaceChildren();
  }
}

function addMode() {
  editing = null;
  form.reset();
  errors.clear();
  resetSecrets();
  kindSelect.disabled = false;
  document.getElementById("ch-kind-help").hidden = true;
  formMode(formParts);
  showKind();
}

function fill(channel) {
  const config = channel.config;
  const secretsSet = new Set(config.secrets_set || []);
  for (const input of configInputs(channel.kind)) {
    const name = input.dataset.config;
    const state = document.getElementById(`${input.id}-state`);
    if (state) {
      // A secret: never shown, only whether it is set.
      const set = secretsSet.has(name);
      state.textContent = set ? "Set — leave empty to keep" : "Not set";
      state.hidden = false;
      const clear = fieldset(channel.kind).querySelector(`[data-clears="${name}"]`);
      if (clear) {
        clear.checked = false;
        clear.closest(".secret-clear").hidden = !set;
      }
      continue;
    }
    const value = config[name];
    if (input.dataset.type === "check") {
      input.checked = Boolean(value);
    } else if (input.dataset.type === "tags") {
      input.value = (value || []).join(", ");
    } else if (input.dataset.type === "lines") {
      input.value = (value || []).join("\n");
    } else {
      input.value = value ?? "";
    }
  }
}

async function editMode(id) {
  const channel = await fetchItem(`/notifications/channels/${id}`, status);
  if (!channel) {
    return;
  }
  addMode();
  editing = channel;
  kindSelect.value = channel.kind;
  kindSelect.disabled = true;
  document.getElementById("ch-kind-help").hidden = false;
  showKind();
  document.getElementById("ch-name").value = channel.name;
  document.getElementById("ch-enabled").checked = channel.enabled;
  fill(channel);
  if (channel.secrets_error) {
    say("ch-form-error", channel.secrets_error);
  }
  formMode(formParts, channel);
  document.getElementById("channel-editor").scrollIntoView({ block: "start" });
  document.getElementById("ch-name").focus();
}

async function save(event) {
  event.preventDefault();
  errors.clear();
  say("notifications-status", "");
  const body = {
    name: document.getElementById("ch-name").value.trim(),
    enabled: document.getElementById("ch-enabled").checked,
    config: configBody(),
  };
  await saveForm({
    saveButton,
    request: () => (editing
      ? api("PATCH", `/notifications/channels/${editing.id}`, body)
      : api("POST", "/notifications/channels", { ...body, kind: kindSelect.value })),
    editing: () => editing,
    reset: addMode,
    refresh,
    noun: "Channel",
    status,
    showError,
  });
}

// -- the list and the matrix --------------------------------------------------------------------

function routingState() {
  const state = new Map();
  for (const box of document.querySelectorAll("#routing-matrix input[data-channel]")) {
    state.set(`${box.closest("tr").dataset.event}/${box.dataset.channel}`, box.checked);
  }
  return state;
}

/** Fetch the page again and swap the list, its empty state and the matrix for fresh ones. */
async function refresh() {
  const page = await fetchPage("/notifications");
  // Unsaved ticks survive a reload of the matrix (a channel added or renamed meanwhile).
  const unsaved = routingDirty ? routingState() : null;
  swapParts(page, ["channel-list", "channels-empty", "routing-body"]);
  if (unsaved) {
    for (const box of document.querySelectorAll("#routing-matrix input[data-channel]")) {
      const key = `${box.closest("tr").dataset.event}/${box.dataset.channel}`;
      if (unsaved.has(key)) {
        box.checked = unsaved.get(key);
      }
    }
    markDirty(true);
  }
}

function markDirty(dirty) {
  routingDirty = dirty;
  const note = document.getElementById("routing-dirty");
  if (note) {
    note.hidden = !dirty;
  }
}

async function saveRouting(event) {
  event.preventDefault();
  const button = document.getElementById("routing-save");
  const routes = {};
  for (const row of document.querySelectorAll("#routing-matrix tbody tr[data-event]")) {
    routes[row.dataset.event] = [...row.querySelectorAll("input[data-channel]:checked")]
      .map((box) => Number(box.dataset.channel));
  }
  say("routing-error", "");
  say("notifications-status", "");
  button.disabled = true;
  try {
    const answer = await api("PUT", "/notifications/routes", { routes });
    // What the server kept is what the matrix shows.
    for (const box of document.querySelectorAll("#routing-matrix input[data-channel]")) {
      const ids = answer.routes[box.closest("tr").dataset.event] || [];
      box.checked = ids.includes(Number(box.dataset.channel));
    }
    markDirty(false);
    status("Routing saved.");
  } catch (error) {
    say("routing-error", error.message);
    document.getElementById("routing-error").focus();
  } finally {
    button.disabled = false;
  }
}

// -- row actions ----------------------------------------------------------------------------------

async function sendTest(row, button) {
  const result = document.getElementById(`channel-${row.dataset.id}-test`);
  result.classList.remove("ok", "failed");
  result.textContent = "Sending…";
  result.hidden = false;
  button.disabled = true;
  try {
    const answer = await api("POST", `/notifications/channels/${row.dataset.id}/test`);
    result.classList.add(answer.ok ? "ok" : "failed");
    const detail = answer.detail ? ` (${answer.detail})` : "";
    result.textContent = answer.ok ? `Delivered${detail}` : `Failed: ${answer.detail || "no detail"}`;
  } catch (error) {
    result.classList.add("failed");
    result.textContent = `Failed: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

async function toggle(input) {
  const row = input.closest("tr[data-id]");
  const enabled = input.checked;
  input.disabled = true;
  say("notifications-status", "");
  try {
    await api("PATCH", `/notifications/channels/${row.dataset.id}`, { enabled });
    await refresh();
    status(`Channel ${row.dataset.name} ${enabled ? "enabled" : "disabled"}.`);
  } catch (error) {
    input.checked = !enabled;
    input.disabled = false;
    status(`${row.dataset.name}: ${error.message}`, false);
  }
}

const confirmDelete = deleteConfirmation(dialog, "channel", (id) => `/notifications/channels/${id}`,
  async ({ id, name }) => {
    if (editing && String(editing.id) === id) {
      addMode();
    }
    status(`Channel ${name} deleted.`);
    await refresh().catch((error) => status(error.message, false));
  });

// -- wiring ---------------------------------------------------------------------------------------

document.getElementById("main").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) {
    return;
  }
  const row = button.closest("tr[data-id]");
  switch (button.dataset.action) {
    case "test":
      sendTest(row, button);
      break;
    case "edit":
      editMode(row.dataset.id);
      break;
    case "delete":
      confirmDelete(row);
      break;
    case "close":
      button.closest("dialog")?.close();
      break;
    case "add-header": {
      const container = button.parentElement.querySelector(".header-rows");
      addHeaderRow(container).focus();
      break;
    }
    case "remove-header": {
      const container = button.closest(".header-rows");
      button.closest(".header-row").remove();
      (container.querySelector("input") || container.parentElement.querySelector("[data-action=add-header]")).focus();
      break;
    }
    default:
      if (button === cancelButton) {
        addMode();
        document.getElementById("ch-name").focus();
      }
  }
});

document.getElementById("main").addEventListener("change", (event) => {
  const target = event.target;
  if (target.classList.contains("enabled-toggle")) {
    toggle(target);
  } else if (target === kindSelect) {
    errors.clear();
    showKind();
  } else if (target.closest("#routing-matrix")) {
    markDirty(true);
  }
});

document.getElementById("main").addEventListener("submit", (event) => {
  if (event.target.id === "routing-form") {
    saveRouting(event);
  }
});

form.addEventListener("submit", save);
showKind();
