// Container updates on the dashboard: the row menu's "Update…" (a dialog that starts the update
// and follows its operation live: step message, pull percent, outcome), the bulk bar's "Update"
// (per-item results that follow each operation), and the toolbar's "Check for updates" (a
// summary notice when the check ends). Progress comes from the tab's one event stream (live.js,
// topic "operation"); the rows themselves re-render from container.changed / update.status in
// containers.js.
import { api } from "./api.js";
import { subscribe } from "./live.js";

const UPDATE = "container.update";
const CHECK = "update.check";
const enc = encodeURIComponent;
const shortId = (id) => (id || "").replace("sha256:", "").slice(0, 12);
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** How an ended update reads: [text, notice kind]. */
function outcome(op, name) {
  if (op.status === "succeeded") {
    return op.result?.updated === "true"
      ? [`${name} updated to ${shortId(op.result.new_image_id)}.`, "ok"]
      : [`${name} is already up to date.`, "ok"];
  }
  if (op.status === "cancelled") {
    return [`The update of ${name} was cancelled.`, "warn"];
  }
  const error = op.error || "unknown error";
  if (op.error_code === "update_failed") {
    // The core's message says what happened: "update of web rolled back: <why>".
    return [`${error.charAt(0).toUpperCase()}${error.slice(1)}`, "error"];
  }
  // Refused before anything changed (e.g. the pull failed): the container is untouched.
  return [`Could not update ${name}: ${error}; the container was not changed.`, "error"];
}

/** What an ended check found: [text, notice kind]. */
function summary(op) {
  if (op.status !== "succeeded") {
    return [`The check for updates failed: ${op.error || "unknown error"}`, "error"];
  }
  const r = op.result || {};
  const checked = Number(r.checked) || 0;
  const available = Number(r.available) || 0;
  const errors = Number(r.errors) || 0;
  let text = `Checked ${plural(checked, "container")}: `
    + (available ? `${plural(available, "update")} available` : "no update available");
  if (errors) {
    text += `; ${errors} could not be checked`;
  }
  return [`${text}.`, errors ? "warn" : "ok"];
}

/**
 * Wire the update controls of the dashboard (operators only: `dialog` is null for viewers).
 * `status(text, kind)` shows the page's notice; `refOf(row)` is a row's container reference;
 * `selectedRows()` the picked rows; `confirm(title, text, label)` the shared confirmation;
 * `showResults(title, items)` fills the bulk results panel with <li> elements.
 * Returns { open(row), bulk(rows), check(button) }.
 */
export function containerUpdates({ dialog, status, refOf, confirm, showResults }) {
  const seen = new Map(); // operation id -> its latest state (events may beat the 202 reply)
  const started = new Map(); // id of an update started here -> container name
  const bulkItems = new Map(); // operation id -> { li, name, host } in the bulk results
  let pending = null; // the container the dialog is about: { host, ref, name }
  let followed = null; // the id of the update the dialog follows
  let checking = null; // the id of the check started here, with its button
  let checkButton = null;
  const $ = (id) => document.getElementById(id);

  function remember(op) {
    seen.set(op.id, op);
    if (seen.size > 100) {
      seen.delete(seen.keys().next().value); // the oldest: only recent operations matter
    }
  }

  /** The further along of the 202 reply and what the stream said already. */
  const latest = (op) => {
    const known = seen.get(op.id);
    return known && (known.status !== "running" || op.status === "running") ? known : op;
  };

  function renderDialog(op) {
    if (op.id !== followed) {
      return;
    }
    const running = op.status === "running";
    $("update-message").textContent = running ? (op.message || "Working…") : "";
    const bar = $("update-bar");
    if (op.status === "succeeded") {
      bar.value = 100;
    } else if (op.percent != null) {
      bar.value = op.percent;
    } else if (running) {
      bar.removeAttribute("value"); // no known size (or not pulling): an indeterminate bar
    } else {
      bar.value = 0;
    }
    $("update-percent").textContent = running && op.percent != null ? `${Math.floor(op.percent)} %` : "";
    $("update-progress").hidden = !running;
    if (running) {
      return;
    }
    const [text, kind] = outcome(op, pending?.name || op.target);
    const box = $("update-result");
    box.className = `notice notice-${kind}`;
    box.textContent = text;
    box.hidden = false;
    followed = null;
  }

  function renderBulk(op) {
    const item = bulkItems.get(op.id);
    if (!item || op.status === "running") {
      if (item) {
        item.li.textContent = `${item.name} (${item.host}): ${op.message || "updating…"}`;
      }
      return;
    }
    const [text, kind] = outcome(op, item.name);
    item.li.className = kind === "ok" ? "result-ok" : "result-failed";
    item.li.textContent = `${text.replace(/\.$/, "")} (${item.host}).`;
    bulkItems.delete(op.id);
  }

  function render(op) {
    if (op.kind === CHECK) {
      if (op.id === checking && op.status !== "running") {
        checking = null;
        if (checkButton) {
          checkButton.disabled = false;
        }
        status(...summary(op));
      }
      return;
    }
    renderDialog(op);
    renderBulk(op);
    if (op.status !== "running" && started.has(op.id)) {
      status(...outcome(op, started.get(op.id)));
      started.delete(op.id);
    }
  }

  function open(row) {
    const image = row.querySelector("td.image")?.textContent.trim() || "its image";
    pending = { host: row.dataset.host, ref: refOf(row), name: row.dataset.name };
    followed = null;
    $("update-title").textContent = `Update ${pending.name}?`;
    $("update-text").textContent = `Pull the newest ${image} on ${pending.host}, recreate `
      + `${pending.name} with the same settings, and roll back to the current container if the `
      + "new one does not stay up.";
    $("update-progress").hidden = true;
    $("update-result").hidden = true;
    $("update-start").hidden = false;
    $("update-start").disabled = false;
    dialog.showModal();
  }

  async function start() {
    if (!pending || followed) {
      return;
    }
    const target = pending;
    $("update-start").disabled = true;
    $("update-result").hidden = true;
    $("update-progress").hidden = false;
    $("update-message").textContent = "Starting…";
    $("update-bar").removeAttribute("value");
    $("update-percent").textContent = "";
    let op;
    try {
      op = await api("POST", `/hosts/${enc(target.host)}/containers/${enc(target.ref)}/update`);
    } catch (error) {
      $("update-progress").hidden = true;
      $("update-start").disabled = false;
      const box = $("update-result");
      box.className = "notice notice-error";
      box.textContent = `Could not update ${target.name}: ${error.message}`;
      box.hidden = false;
      return;
    }
    $("update-start").hidden = true;
    followed = op.id;
    started.set(op.id, target.name);
    status(`Updating ${target.name}…`);
    render(latest(op));
  }

  async function bulk(rows) {
    const many = plural(rows.length, "container");
    if (!(await confirm(`Update ${many}?`, "Each pulls the newest image of its reference, is "
      + "recreated with the same settings, and is rolled back if the new container does not "
      + "stay up.", "Update"))) {
      return;
    }
    status(`Starting the update of ${many}…`);
    const names = new Map(rows.map((r) => [`${r.dataset.host}/${refOf(r)}`, r.dataset.name]));
    let items;
    try {
      ({ items } = await api("POST", "/containers/update", {
        targets: rows.map((r) => ({ host: r.dataset.host, ref: refOf(r) })),
      }));
    } catch (error) {
      status(`Could not update the selection: ${error.message}`, "error");
      return;
    }
    const refused = items.filter((i) => !i.ok).length;
    const lis = items.map((item) => {
      const li = document.createElement("li");
      const name = names.get(`${item.host}/${item.ref}`) || item.ref;
      li.dataset.host = item.host;
      li.dataset.ref = item.ref;
      if (item.ok && item.operation) {
        li.className = "result-running";
        li.textContent = `${name} (${item.host}): updating…`;
        li.dataset.operation = item.operation.id;
        bulkItems.set(item.operation.id, { li, name, host: item.host });
      } else {
        li.className = "result-failed";
        li.textContent = `${name} (${item.host}): refused: ${item.error?.message || "unknown error"}`;
      }
      return li;
    });
    showResults(`Update: ${items.length - refused} started, ${refused} refused`, lis);
    status(refused ? `${refused} of ${items.length} refused; see the results.`
      : `Updating ${many}; see the results.`, refused ? "error" : "ok");
    for (const item of items) {
      if (item.ok && item.operation) {
        render(latest(item.operation));
      }
    }
  }

  async function check(button) {
    checkButton = button;
    button.disabled = true;
    status("Checking for updates…");
    const host = new URLSearchParams(location.search).get("host");
    let op;
    try {
      op = await api("POST", "/updates/check", host ? { host } : {});
    } catch (error) {
      button.disabled = false;
      status(`Could not check for updates: ${error.message}`, "error");
      return;
    }
    checking = op.id;
    render(latest(op));
  }

  /** After a reconnect the stream may have missed the end of an operation: read each once. */
  async function resync() {
    const ids = new Set([followed, checking, ...started.keys(), ...bulkItems.keys()]);
    for (const id of ids) {
      if (!id) {
        continue;
      }
      try {
        const op = await api("GET", `/operations/${enc(id)}`);
        remember(op);
        render(op);
      } catch {
        // Gone (kept an hour) or unreachable: the rows still show the containers' state.
      }
    }
  }

  if (dialog) {
    dialog.querySelector("form").addEventListener("submit", (event) => {
      event.preventDefault();
      start();
    });
    subscribe("operation", (op) => {
      if (op.kind !== UPDATE && op.kind !== CHECK) {
        return;
      }
      remember(op);
      render(op);
    });
    subscribe("lagged", resync);
    subscribe("open", resync);
  }
  return { open, bulk, check };
}
