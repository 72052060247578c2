// The updates page. The server renders the sections (available updates, other checks, history:
// updates_sections.html); this module wires the operators' buttons to the dashboard's update
// controls (container_updates.js: the Update… dialog with live progress, Update all with
// per-item results, Check for updates with its summary) and swaps in fresh sections when a
// check result changes (update.status) or an update or check ends (operation), from the tab's
// one event stream (live.js), never by polling.
import { notice } from "./api.js";
import { containerUpdates } from "./container_updates.js";
import { ask } from "./dialogs.js";
import { fragmentRefresher } from "./fragment.js";
import { subscribe } from "./live.js";
import { localTimes } from "./schedules_shared.js";

const main = document.getElementById("main");
const statusBox = document.getElementById("updates-status");
const KINDS = new Set(["container.update", "update.check"]);
const DEBOUNCE_MS = 300; // a check pass publishes one update.status per container

const status = (text, kind) => notice(statusBox, text, kind);

function confirmAction(title, text, label) {
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = label;
  return ask(document.getElementById("confirm-dialog"));
}

function showResults(title, lis) {
  document.getElementById("bulk-items").replaceChildren(...lis);
  document.getElementById("bulk-result-title").textContent = title;
  document.getElementById("bulk-result").hidden = false;
}

const updates = containerUpdates({
  dialog: document.getElementById("update-dialog"), // absent for viewers
  status,
  refOf: (row) => row.dataset.ref,
  confirm: confirmAction,
  showResults,
});

// -- the sections -------------------------------------------------------------------------------

/** Swap fresh sections in, keeping what the reader did: the "Other checks" disclosure and
 * the focused control. */
function applySections(fresh) {
  const old = document.getElementById("update-sections");
  if (!old) {
    return;
  }
  fresh.querySelector("#others").open = old.querySelector("#others").open;
  const focused = document.activeElement;
  const focusRow = old.contains(focused) ? focused.closest("tr[id]")?.id : null;
  const focusId = old.contains(focused) && focused.id ? focused.id : null;
  localTimes(fresh);
  old.replaceWith(fresh);
  const target = focusId ? document.getElementById(focusId)
    : focusRow ? document.getElementById(focusRow)?.querySelector("button, a") : null;
  target?.focus();
}

/** Fetch the sections again (same history page) and swap them in; one fetch at a time. */
const { refreshSoon } = fragmentRefresher({
  path: "/updates", fragment: "sections", id: "update-sections", apply: applySections,
  onError: (error) => status(`Could not refresh the page: ${error.message}.`, "error"),
  debounceMs: DEBOUNCE_MS,
});

// -- wiring -------------------------------------------------------------------------------------

main.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) {
    return;
  }
  if (button.classList.contains("update-one")) {
    updates.open(button.closest("tr.row"));
  } else if (button.id === "update-all") {
    const rows = [...document.querySelectorAll("#available-list tr.row")]
      .filter((row) => row.querySelector("button.update-one"));
    if (rows.length) {
      updates.bulk(rows);
    }
  } else if (button.id === "check-updates") {
    updates.check(button);
  } else if (button.hasAttribute("data-close")) {
    button.closest("dialog")?.close("");
  } else if (button.id === "bulk-result-close") {
    document.getElementById("bulk-result").hidden = true;
  }
});

subscribe("update.status", refreshSoon);
subscribe("operation", (op) => {
  if (KINDS.has(op.kind) && op.status !== "running") {
    refreshSoon(); // the journal has the outcome, the checks the re-check
  }
});
// Events sent while the stream was down (or dropped for lagging): the server has the state.
subscribe("lagged", refreshSoon);
subscribe("open", refreshSoon);

localTimes();
