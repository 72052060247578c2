// The webhooks page: create, enable/disable, new token and delete through the JSON API. The
// token comes back only in the create and regenerate answers: it is shown once, in the URL
// panel with a copy button and an example curl call, and never kept. After a change the page
// is fetched again and its table swapped (the server renders the rows).
import { api, say } from "./api.js";
import { FieldErrors, fetchHtml, localTimes, targetFields } from "./schedules_shared.js";

const form = document.getElementById("webhook-form"); // operators and admins only
const dialog = document.getElementById("webhook-confirm");
const target = form ? targetFields(document.getElementById("wh-fields")) : null;
const locked = document.getElementById("wh-locked");
const errors = form ? new FieldErrors(form, () => ({
  name: "wh-name",
  locked: "wh-locked",
  ...target.errorIds(),
  allowed_cidrs: "wh-cidrs",
  rate_limit_per_minute: "wh-rate",
}), "wh-form-error") : null;

function status(text, ok = true) {
  const region = document.getElementById("webhooks-status");
  region.classList.toggle("notice-ok", ok);
  region.classList.toggle("notice-error", !ok);
  say("webhooks-status", text);
}

/** Fetch the page again and swap the list (and its empty state) for the fresh one. */
async function refreshList() {
  const { response, html } = await fetchHtml("/webhooks");
  if (!response.ok || !html) {
    throw new Error(`could not reload the list (${response.status})`);
  }
  const page = new DOMParser().parseFromString(html, "text/html");
  for (const id of ["webhook-list", "webhooks-empty"]) {
    const fresh = document.importNode(page.getElementById(id), true);
    localTimes(fresh);
    document.getElementById(id).replaceWith(fresh);
  }
}

// -- the one-time URL panel -----------------------------------------------------------------------

function quoted(text) {
  return `'${text.replaceAll("'", "'\\''")}'`; // a POSIX shell single-quoted word
}

function showSecret(answer) {
  const url = location.origin + answer.url_path;
  const webhook = answer.webhook;
  document.getElementById("webhook-secret-name").textContent = webhook.name;
  document.getElementById("webhook-url").value = url;
  let example = `curl -X POST ${quoted(`${url}?wait=10`)}`;
  if (!webhook.locked) {
    const body = {
      action: "restart",
      target: { kind: "container", host: form?.dataset.exampleHost || "local", key: "web" },
    };
    example = `curl -X POST -H 'Content-Type: application/json' \\\n  -d ${quoted(JSON.stringify(body))} \\\n  ${quoted(`${url}?wait=10`)}`;
  }
  document.getElementById("webhook-curl").textContent = example;
  document.getElementById("webhook-copy-state").textContent = "";
  const panel = document.getElementById("webhook-secret");
  panel.hidden = false;
  panel.focus();
}

function hideSecret() {
  // The token leaves the page: nothing keeps it once the panel is closed.
  document.getElementById("webhook-url").value = "";
  document.getElementById("webhook-curl").textContent = "";
  document.getElementById("webhook-secret").hidden = true;
}

async function copyUrl() {
  const field = document.getElementById("webhook-url");
  const state = document.getElementById("webhook-copy-state");
  try {
    await navigator.clipboard.writeText(field.value);
    state.textContent = "Copied.";
  } catch {
    // No clipboard access (plain http on another machine, or refused): select it instead.
    field.focus();
    field.select();
    state.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
  }
}

// -- create ---------------------------------------------------------------------------------------

function cidrs() {
  return document.getElementById("wh-cidrs").value.split(/[\s,]+/).filter(Boolean);
}

function createBody() {
  const body = {
    name: document.getElementById("wh-name").value.trim(),
    locked: locked.checked,
    enabled: document.getElementById("wh-enabled").checked,
    allow_get: document.getElementById("wh-allow-get").checked,
    allowed_cidrs: cidrs(),
  };
  const rate = document.getElementById("wh-rate").value.trim();
  if (rate) {
    body.rate_limit_per_minute = Number(rate);
  }
  if (locked.checked) {
    body.action = target.action();
    body.target = target.target();
  }
  return body;
}

function syncLocked() {
  // An unlocked webhook has no target of its own: its calls name one.
  document.getElementById("wh-fields").hidden = !locked.checked;
}

async function create(event) {
  event.preventDefault();
  const button = document.getElementById("webhook-create");
  errors.clear();
  button.disabled = true;
  try {
    const answer = await api("POST", "/webhooks", createBody());
    form.reset();
    target.sync();
    syncLocked();
    showSecret(answer);
    status(`Webhook ${answer.webhook.name} created.`);
    await refreshList();
  } catch (error) {
    if (error.status) {
      (errors.show(error) || document.getElementById("wh-form-error")).focus();
    } else {
      status(error.message, false);
    }
  } finally {
    button.disabled = false;
  }
}

// -- row actions ------------------------------------------------------------------------------

let pendingAction = null;

function confirmAction(row, action) {
  const name = row.dataset.name;
  const texts = action === "delete"
    ? [`Delete webhook ${name}?`, "Its URL stops working at once and its run history is deleted.", "Delete"]
    : [`New token for ${name}?`, "The current URL stops working at once; callers need the new one.", "New token"];
  document.getElementById("webhook-confirm-title").textContent = texts[0];
  document.getElementById("webhook-confirm-text").textContent = texts[1];
  document.getElementById("webhook-confirm-ok").textContent = texts[2];
  say("webhook-confirm-error", "");
  pendingAction = { id: row.dataset.id, name, action };
  dialog.showModal();
}

async function confirmed(event) {
  event.preventDefault();
  const { id, name, action } = pendingAction;
  const button = document.getElementById("webhook-confirm-ok");
  button.disabled = true;
  let answer = null;
  try {
    answer = action === "delete"
      ? await api("DELETE", `/webhooks/${id}`)
      : await api("POST", `/webhooks/${id}/regenerate`);
  } catch (error) {
    say("webhook-confirm-error", error.message);
    return;
  } finally {
    button.disabled = false;
  }
  dialog.close();
  if (action === "delete") {
    status(`Webhook ${name} deleted.`);
  } else {
    showSecret(answer);
    status(`Webhook ${name} has a new token: the old URL no longer works.`);
  }
  await refreshList().catch((error) => status(error.message, false));
}

async function toggle(input) {
  const row = input.closest("tr[data-id]");
  const enabled = input.checked;
  input.disabled = true;
  try {
    await api("PATCH", `/webhooks/${row.dataset.id}`, { enabled });
    status(`Webhook ${row.dataset.name} ${enabled ? "enabled" : "disabled"}.`);
    await refreshList();
  } catch (error) {
    input.checked = !enabled;
    input.disabled = false;
    status(`${row.dataset.name}: ${error.message}`, false);
  }
}

document.getElementById("main").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) {
    return;
  }
  if (button.id === "webhook-copy") {
    copyUrl();
  } else if (button.id === "webhook-secret-close") {
    hideSecret();
  } else if (button.dataset.action === "close") {
    button.closest("dialog")?.close();
  } else if (button.dataset.action === "regenerate" || button.dataset.action === "delete") {
    confirmAction(button.closest("tr[data-id]"), button.dataset.action);
  }
});

document.getElementById("main").addEventListener("change", (event) => {
  if (event.target.classList.contains("enabled-toggle")) {
    toggle(event.target);
  } else if (event.target === locked) {
    syncLocked();
  }
});

form?.addEventListener("submit", create);
dialog?.querySelector("form").addEventListener("submit", confirmed);
localTimes();
