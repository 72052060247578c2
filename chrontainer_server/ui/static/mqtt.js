// The MQTT section of Settings: save through PATCH /api/v1/mqtt, test a connection through
// POST /api/v1/mqtt/test, and fetch the bridge's status box again after a save and on
// "Refresh" (the bridge publishes no live event for its connection, and pages never poll).
// The password is write-only: an empty field keeps the stored one.
import { api, report } from "./api.js";
import { showCheck } from "./item_form.js";
import { FieldErrors, fetchHtml, localTimes, parse } from "./schedules_shared.js";

const STATUS_FRAGMENT = "/fragments/mqtt/status";

const form = document.getElementById("mqtt-form");
const password = document.getElementById("mq-password");
const clearPassword = document.getElementById("mq-clear-password");
const testButton = document.getElementById("mqtt-test");
const saveButton = document.getElementById("mqtt-save");
const warning = document.getElementById("mqtt-control-warning");

const NUMBERS = new Set(["port", "removed_ttl_hours"]);
const CHOICES = new Set(["discovery_mode", "control"]);

const errors = new FieldErrors(form, () => {
  const ids = {};
  for (const input of form.elements) {
    if (input.name && !CHOICES.has(input.name)) {
      ids[input.name] = input.id;
    }
  }
  // A choice's message goes under its group; the first radio gets aria-invalid.
  for (const name of CHOICES) {
    const first = form.querySelector(`input[name="${name}"]`);
    if (first) {
      ids[name] = [first.id, `mq-${name}-error`];
    }
  }
  return ids;
}, "mqtt-form-error");

/** The editable values of the form; the password only when typed or cleared. */
function values() {
  const body = {};
  for (const input of form.elements) {
    if (!input.name || input.disabled || input.name === "password") {
      continue;
    }
    if (input.type === "checkbox") {
      body[input.name] = input.checked;
    } else if (input.type === "radio") {
      if (input.checked) {
        body[input.name] = input.value;
      }
    } else if (NUMBERS.has(input.name)) {
      // A number the browser cannot parse goes as text: the server names the field.
      body[input.name] = input.value.trim() === "" || Number.isNaN(Number(input.value))
        ? input.value : Number(input.value);
    } else {
      body[input.name] = input.value.trim();
    }
  }
  if (password && !password.disabled) {
    if (clearPassword?.checked) {
      body.password = null;
    } else if (password.value) {
      body.password = password.value;
    }
  }
  return body;
}

function showControlWarning() {
  const chosen = form.querySelector('input[name="control"]:checked');
  warning.hidden = !chosen || chosen.value === "off";
}

function showPasswordState(isSet) {
  const state = document.getElementById("mq-password-state");
  state.dataset.set = String(isSet);
  state.textContent = isSet ? "A password is set: leave this empty to keep it." : "No password is set.";
  const clearField = document.getElementById("mq-clear-password-field");
  if (clearField) {
    clearField.hidden = !isSet;
  }
  if (clearPassword) {
    clearPassword.checked = false;
  }
  password.value = "";
}

async function refreshStatus() {
  const box = document.getElementById("mqtt-status");
  try {
    const { response, html } = await fetchHtml(STATUS_FRAGMENT);
    if (!response.ok || !html) {
      throw new Error(`could not load the status (${response.status})`);
    }
    const fresh = parse(html);
    box.replaceWith(fresh);
    localTimes(fresh);
  } catch (error) {
    report("mqtt-notice", error.message, false);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errors.clear();
  saveButton.disabled = true;
  try {
    const answer = await api("PATCH", "/mqtt", values());
    showPasswordState(answer.settings.password_set);
    document.getElementById("mq-client_id").value = answer.settings.client_id;
    report("mqtt-notice", "MQTT settings saved.");
    await refreshStatus();
  } catch (error) {
    const input = errors.show(error);
    (input || document.getElementById("mqtt-form-error")).focus();
  } finally {
    saveButton.disabled = false;
  }
});

testButton.addEventListener("click", async () => {
  errors.clear();
  showCheck("mqtt-test-result", null, "Connecting…");
  testButton.disabled = true;
  try {
    const body = values();
    const answer = await api("POST", "/mqtt/test", body);
    if (answer.ok) {
      showCheck("mqtt-test-result", true, `Connected to ${body.host || "the broker"}: the broker accepted the login.`);
    } else {
      showCheck("mqtt-test-result", false, `Connection failed: ${answer.error}`);
    }
  } catch (error) {
    showCheck("mqtt-test-result", null, "");
    const input = errors.show(error);
    (input || document.getElementById("mqtt-form-error")).focus();
  } finally {
    testButton.disabled = false;
  }
});

form.addEventListener("change", (event) => {
  if (event.target.name === "control") {
    showControlWarning();
  }
});

// The status box is swapped whole, so its button is found through the document.
document.addEventListener("click", (event) => {
  if (event.target.closest("#mqtt-status-refresh")) {
    refreshStatus();
  }
});

showControlWarning();
localTimes(document.getElementById("mqtt-status"));
