// The schedule form: target and action fields, cron presets, the live description and next
// runs preview (POST /api/v1/schedules/preview, debounced), and saving through the JSON API
// (POST /schedules, or PATCH /schedules/{id} when editing).
import { api } from "./api.js";
import { FieldErrors, targetFields } from "./schedules_shared.js";

const form = document.getElementById("schedule-form");
const target = targetFields(document.getElementById("target-fields"));
const preset = document.getElementById("preset");
const cron = document.getElementById("cron");
const at = document.getElementById("at");
const zone = document.getElementById("timezone");
const PREVIEW_DELAY = 300; // ms after the last keystroke
const TRIGGER_FIELDS = ["cron-error", "at-error", "timezone-error"];

const errors = new FieldErrors(form, () => ({
  name: "name",
  ...target.errorIds(),
  "trigger.cron": "cron",
  "trigger.at": "at",
  "trigger.timezone": "timezone",
  "trigger.kind": "cron",
  trigger: "cron",
  misfire: "misfire",
  grace: "grace",
  grace_seconds: "grace",
  timeout: "timeout",
  timeout_seconds: "timeout",
  retries: "retries",
  retry_backoff: "backoff",
  retry_backoff_seconds: "backoff",
  jitter: "jitter",
  jitter_seconds: "jitter",
}), "form-error");

function triggerKind() {
  return form.querySelector('input[name="trigger"]:checked')?.value || "cron";
}

// -- one-time triggers: the datetime-local value is a wall time in the chosen zone ------------

function zoneOffset(moment, timeZone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
    timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(moment).map((part) => [part.type, part.value]));
  const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return wall - Math.floor(moment.getTime() / 1000) * 1000;
}

/** "2030-05-01T03:00" in `timeZone` -> an ISO instant; an unknown zone is taken as UTC. */
function instant(local, timeZone) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local);
  if (!match) {
    return null;
  }
  const wall = Date.UTC(+match[1], +match[2] - 1, +match[3], +match[4], +match[5]);
  try {
    // Twice: the offset at the first guess may differ from the offset at the answer (DST).
    let guess = wall - zoneOffset(new Date(wall), timeZone);
    guess = wall - zoneOffset(new Date(guess), timeZone);
    return new Date(guess).toISOString();
  } catch {
    return new Date(wall).toISOString(); // RangeError: the server names the zone as wrong
  }
}

function trigger() {
  const timezone = zone.value.trim();
  if (triggerKind() === "once") {
    return { kind: "once", at: instant(at.value, timezone || "UTC"), timezone };
  }
  return { kind: "cron", cron: cron.value.trim(), timezone };
}

// -- the preview --------------------------------------------------------------------------------

let timer = null;
let asked = 0;

function formatIn(moment, timeZone) {
  const options = { weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone }).format(moment);
  } catch {
    return new Intl.DateTimeFormat(undefined, options).format(moment);
  }
}

function showPreview(description, state, runs = [], timeZone = "UTC") {
  document.getElementById("preview-description").textContent = description;
  const stateLine = document.getElementById("preview-state");
  stateLine.textContent = state;
  stateLine.hidden = !state;
  const items = runs.map((iso) => {
    const time = document.createElement("time");
    time.dateTime = iso;
    time.title = `${iso.slice(0, 19).replace("T", " ")} UTC`;
    time.textContent = formatIn(new Date(iso), timeZone);
    const item = document.createElement("li");
    item.append(time);
    return item;
  });
  document.getElementById("preview-runs").replaceChildren(...items);
}

async function preview() {
  const mine = ++asked;
  const wanted = trigger();
  const box = document.getElementById("preview");
  if (wanted.kind === "once" && !wanted.at) {
    errors.clear(TRIGGER_FIELDS);
    showPreview("", "Pick a date and time.");
    return;
  }
  box.setAttribute("aria-busy", "true");
  try {
    const answer = await api("POST", "/schedules/preview", { trigger: wanted, count: 5 });
    if (mine !== asked) {
      return; // the fields changed meanwhile: a newer preview is on its way
    }
    errors.clear(TRIGGER_FIELDS);
    const none = answer.next_runs.length === 0
      ? (wanted.kind === "once" ? "This moment has passed: pick a time in the future." : "It never fires.")
      : "";
    showPreview(answer.description, none || `Next runs (${answer.timezone}):`, answer.next_runs, answer.timezone);
  } catch (error) {
    if (mine !== asked) {
      return;
    }
    errors.clear(TRIGGER_FIELDS);
    showPreview("", "Fix the fields above to see the next runs.");
    errors.show(error);
  } finally {
    if (mine === asked) {
      box.setAttribute("aria-busy", "false");
    }
  }
}

function schedulePreview() {
  clearTimeout(timer);
  timer = setTimeout(preview, PREVIEW_DELAY);
}

// -- the fields ---------------------------------------------------------------------------------

function syncTrigger() {
  const kind = triggerKind();
  for (const block of form.querySelectorAll("[data-trigger]")) {
    block.hidden = block.dataset.trigger !== kind;
  }
}

preset.addEventListener("change", () => {
  if (preset.value) {
    cron.value = preset.value;
  } else {
    cron.focus();
  }
  schedulePreview();
});

cron.addEventListener("input", () => {
  const known = [...preset.options].find((o) => o.value && o.value === cron.value.trim());
  preset.value = known ? known.value : "";
  schedulePreview();
});

for (const input of [at, zone]) {
  input.addEventListener("input", schedulePreview);
}

for (const radio of form.querySelectorAll('input[name="trigger"]')) {
  radio.addEventListener("change", () => {
    syncTrigger();
    schedulePreview();
  });
}

// A new schedule is named after what it does ("Restart web") until someone types a name.
const nameInput = document.getElementById("name");
let autoName = nameInput.dataset.auto === "true";

function suggestName() {
  if (!autoName) {
    return;
  }
  const chosen = target.target();
  const action = document.getElementById("target-action").selectedOptions[0]?.textContent || "";
  const what = chosen.key || chosen.label || chosen.image || chosen.host || "";
  nameInput.value = `${action.charAt(0).toUpperCase()}${action.slice(1)} ${what}`.trim().slice(0, 100);
}

nameInput.addEventListener("input", () => {
  autoName = nameInput.value.trim() === "";
});
document.getElementById("target-fields").addEventListener("change", suggestName);

// -- saving -------------------------------------------------------------------------------------

function seconds(id) {
  const text = document.getElementById(id).value.trim();
  return text === "" ? undefined : Number(text);
}

function body() {
  const data = {
    name: document.getElementById("name").value.trim(),
    target: target.target(),
    action: target.action(),
    trigger: trigger(),
    enabled: document.getElementById("enabled").checked,
    misfire: document.getElementById("misfire").value,
    grace_seconds: seconds("grace"),
    timeout_seconds: seconds("timeout"),
    retries: seconds("retries"),
    retry_backoff_seconds: seconds("backoff"),
    jitter_seconds: seconds("jitter"),
  };
  if (!data.trigger.timezone) {
    delete data.trigger.timezone; // the server's default zone
  }
  return JSON.parse(JSON.stringify(data)); // drops the undefined numbers: server defaults
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const save = document.getElementById("schedule-save");
  const id = form.dataset.id;
  errors.clear();
  save.disabled = true;
  try {
    const saved = id ? await api("PATCH", `/schedules/${id}`, body()) : await api("POST", "/schedules", body());
    location.assign(`/schedules#schedule-${saved.id}`);
  } catch (error) {
    (errors.show(error) || document.getElementById("form-error")).focus();
    save.disabled = false;
  }
});

syncTrigger();
suggestName();
preview();
