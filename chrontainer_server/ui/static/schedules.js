// The schedules list and one schedule's page: run now, enable toggle and delete through the JSON
// API; rows and the run history are rendered by the server and re-fetched after a change or a
// run event ("schedule.run" from live.js, never polling).
import { api, say } from "./api.js";
import { subscribe } from "./live.js";
import { fetchHtml, localTimes, parse, runSummary } from "./schedules_shared.js";

const list = document.getElementById("schedule-list"); // the list page
const pageId = document.querySelector(".page-head[data-id]")?.dataset.id; // one schedule's page
const empty = document.getElementById("schedules-empty");
const dialog = document.getElementById("schedule-delete");
const pending = new Set(); // ids of runs started here: their end is announced
const latest = new Map(); // schedule id -> number of its newest row request
let requests = 0;

function status(text, ok = true) {
  const region = document.getElementById("schedules-status");
  region.classList.toggle("notice-ok", ok);
  region.classList.toggle("notice-error", !ok);
  say("schedules-status", text);
}

function owner(element) {
  return element.closest("[data-id]");
}

function showEmpty() {
  if (!list) {
    return;
  }
  const none = list.tBodies[0].rows.length === 0;
  list.hidden = none;
  empty.hidden = !none;
}

/** Replace a schedule's list row with a fresh server-rendered one (or drop it when gone). */
async function refreshRow(id) {
  const row = document.getElementById(`schedule-${id}`);
  if (!list || !row) {
    return;
  }
  const mine = ++requests;
  latest.set(id, mine);
  let result;
  try {
    result = await fetchHtml(`/fragments/schedules/${id}/row`);
  } catch {
    return; // offline: the next event or reconnect refreshes it
  }
  if (latest.get(id) !== mine) {
    return; // a newer request for this row is on its way
  }
  if (result.response.status === 404) {
    row.remove();
    showEmpty();
    return;
  }
  if (!result.response.ok || !result.html) {
    return;
  }
  const fresh = parse(result.html);
  localTimes(fresh);
  const focused = row.contains(document.activeElement) ? focusKey(document.activeElement) : null;
  // A row still in the page (not removed meanwhile) is the one to replace.
  document.getElementById(`schedule-${id}`)?.replaceWith(fresh);
  if (focused) {
    fresh.querySelector(focused)?.focus();
  }
}

function focusKey(element) {
  if (element.dataset.action) {
    return `[data-action="${element.dataset.action}"]`;
  }
  return element.classList.contains("enabled-toggle") ? ".enabled-toggle" : null;
}

/** Fetch this page again and swap the parts that change: the list, or the facts and history. */
async function refreshPage() {
  let result;
  try {
    result = await fetchHtml(location.href);
  } catch {
    return;
  }
  if (!result.response.ok || !result.html) {
    return;
  }
  const page = new DOMParser().parseFromString(result.html, "text/html");
  const ids = list ? ["schedule-list"] : ["schedule-facts", "run-history"];
  for (const id of ids) {
    const fresh = page.getElementById(id);
    const old = document.getElementById(id);
    if (fresh && old) {
      const adopted = document.importNode(fresh, true);
      localTimes(adopted);
      old.replaceWith(adopted);
    }
  }
  if (list) {
    empty.hidden = !page.getElementById("schedules-empty")?.hidden;
    document.getElementById("schedule-list").hidden = !empty.hidden;
  }
}

async function runNow(element) {
  const target = owner(element);
  const name = target.dataset.name;
  element.disabled = true;
  try {
    const run = await api("POST", `/schedules/${target.dataset.id}/run`);
    if (run.result === "running") {
      pending.add(run.id);
      status(`${name}: running…`);
    } else {
      status(runSummary({ ...run, name }), run.result === "ok");
    }
    await refreshRow(target.dataset.id);
  } catch (error) {
    status(`${name}: ${error.message}`, false);
  } finally {
    element.disabled = false;
  }
}

async function toggle(input) {
  const target = owner(input);
  const enabled = input.checked;
  input.disabled = true;
  try {
    await api("PATCH", `/schedules/${target.dataset.id}`, { enabled });
    status(`${target.dataset.name} ${enabled ? "enabled" : "disabled"}.`);
    await refreshRow(target.dataset.id);
  } catch (error) {
    input.checked = !enabled;
    status(`${target.dataset.name}: ${error.message}`, false);
  } finally {
    input.disabled = false;
  }
}

let deleting = null;

function askDelete(element) {
  deleting = owner(element);
  document.getElementById("schedule-delete-name").textContent = deleting.dataset.name;
  say("schedule-delete-error", "");
  dialog.showModal();
}

async function confirmDelete(event) {
  event.preventDefault();
  const target = deleting;
  const button = document.getElementById("schedule-delete-ok");
  button.disabled = true;
  try {
    await api("DELETE", `/schedules/${target.dataset.id}`);
  } catch (error) {
    say("schedule-delete-error", error.message);
    return;
  } finally {
    button.disabled = false;
  }
  dialog.close();
  if (!list) {
    location.assign("/schedules");
    return;
  }
  // By id: a refresh may have replaced the row since the dialog opened.
  document.getElementById(`schedule-${target.dataset.id}`)?.remove();
  showEmpty();
  status(`Schedule ${target.dataset.name} deleted.`);
  document.getElementById("schedules-status").focus();
}

document.getElementById("main").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) {
    return;
  }
  if (button.dataset.action === "run") {
    runNow(button);
  } else if (button.dataset.action === "delete") {
    askDelete(button);
  } else if (button.dataset.action === "close") {
    button.closest("dialog")?.close();
  }
});

document.getElementById("main").addEventListener("change", (event) => {
  if (event.target.classList.contains("enabled-toggle")) {
    toggle(event.target);
  }
});

dialog?.querySelector("form").addEventListener("submit", confirmDelete);

subscribe("schedule.run", (run) => {
  if (pending.has(run.id) && run.result !== "running") {
    pending.delete(run.id);
    status(runSummary(run), run.result === "ok");
  }
  if (run.schedule_id == null) {
    return; // a webhook's run
  }
  if (list) {
    refreshRow(run.schedule_id);
  } else if (String(run.schedule_id) === pageId
             && document.getElementById("run-history")?.dataset.live === "true") {
    refreshPage(); // the newest page of the history: the run shows (or changes) at the top
  }
});
// Run events sent while the stream was down (or dropped for lagging) are in the database.
subscribe("open", refreshPage);
subscribe("lagged", refreshPage);

localTimes();
