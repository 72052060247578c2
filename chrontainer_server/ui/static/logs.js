// The logs viewer: reads GET .../logs (a JSON list, or NDJSON while following) and shows the
// lines. Log text only ever goes into the page as text nodes (textContent), never as markup.
//
// - Following reads the NDJSON body with a stream reader, line by line, and aborts the request
//   (AbortController) when follow is switched off, the options change or the page is left.
// - At most LINE_CAP lines stay in the page: a chatty container cannot exhaust the browser.
// - While following, the box scrolls with new lines unless the user scrolled up to read.
// - The search box highlights matches with <mark> and can hide the other lines.
// - The container's state in the header follows the tab's live stream (live.js); a follow
//   that ended because the container stopped resumes when it runs again.

import { subscribe } from "./live.js";

const LINE_CAP = 10000;
const SEARCH_DELAY_MS = 120; // let the user finish a word before walking 10,000 lines

const viewer = document.getElementById("log-viewer");
const head = document.getElementById("container-head");
const form = document.getElementById("log-options");
const tailSelect = document.getElementById("log-tail");
const timestampsBox = document.getElementById("log-timestamps");
const followBox = document.getElementById("log-follow");
const download = document.getElementById("log-download");
const output = document.getElementById("log-output");
const empty = document.getElementById("log-empty");
const statusLine = document.getElementById("log-status");
const errorLine = document.getElementById("log-error");
const capped = document.getElementById("log-capped");
const jump = document.getElementById("log-jump");
const searchBar = document.getElementById("log-search-bar");
const searchBox = document.getElementById("log-search");
const onlyMatching = document.getElementById("log-only-matching");
const matchCount = document.getElementById("log-matches");

let controller = null; // the running request's AbortController
let following = false; // a follow stream is open
let ended = false; // the last follow ended by itself (the container stopped)
let stick = true; // keep the newest line in view
let dropped = 0; // lines removed to stay under LINE_CAP
let pattern = null; // the search as a RegExp, or null
let searchTimer = 0;

function options() {
  return {
    tail: tailSelect.value,
    timestamps: timestampsBox.checked,
    follow: followBox.checked,
  };
}

function say(text) {
  statusLine.textContent = text;
}

function showError(text) {
  errorLine.textContent = text || "";
  errorLine.hidden = !text;
}

function showEmpty() {
  const none = output.childElementCount === 0;
  empty.hidden = !none;
  if (none) {
    empty.textContent = following
      ? "No log lines yet. New lines appear here as the container writes them."
      : "No log lines.";
  }
}

/** Keep the URL, and the download link, in step with the options. */
function syncLinks() {
  const opts = options();
  const url = new URL(window.location.href);
  url.searchParams.set("tail", opts.tail);
  url.searchParams.set("timestamps", String(opts.timestamps));
  url.searchParams.set("follow", String(opts.follow));
  history.replaceState(null, "", url);
  const params = new URLSearchParams({ tail: opts.tail, timestamps: String(opts.timestamps) });
  download.href = `${viewer.dataset.downloadUrl}?${params}`;
}

// -- lines --------------------------------------------------------------------------------

function lineElement(record, timestamps) {
  const row = document.createElement("div");
  row.className = record.stream === "stderr" ? "line stderr" : "line";
  if (timestamps && record.t) {
    const ts = document.createElement("span");
    ts.className = "ts";
    ts.textContent = record.t;
    row.append(ts);
  }
  if (record.stream === "stderr") {
    // Readable without colour too: the marker says which stream it is.
    const marker = document.createElement("span");
    marker.className = "marker";
    marker.title = "written to stderr";
    marker.textContent = "err";
    row.append(marker);
  }
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = record.line;
  row.append(text);
  return row;
}

function append(records, timestamps) {
  if (!records.length) {
    return;
  }
  const batch = document.createDocumentFragment();
  for (const record of records) {
    const row = lineElement(record, timestamps);
    if (pattern) {
      applySearch(row);
    }
    batch.append(row);
  }
  output.append(batch);
  let excess = output.childElementCount - LINE_CAP;
  while (excess-- > 0) {
    output.firstElementChild.remove();
    dropped += 1;
  }
  if (dropped) {
    capped.hidden = false;
    capped.textContent = `Showing the newest ${LINE_CAP.toLocaleString()} lines; `
      + `${dropped.toLocaleString()} older ones were left out. Download the log for all of it.`;
  }
  if (pattern) {
    countMatches();
  }
  if (following) {
    say(status(true));
  }
  showEmpty();
  if (stick) {
    output.scrollTop = output.scrollHeight;
  }
}

function clear() {
  output.replaceChildren();
  dropped = 0;
  capped.hidden = true;
  stick = true;
  jump.hidden = true;
}

// -- reading ------------------------------------------------------------------------------

async function errorOf(response) {
  const body = await response.json().catch(() => null);
  const message = body?.error?.message || `the server answered ${response.status}`;
  return new Error(message);
}

/** Call onBatch with the records of each chunk of an NDJSON body until it ends. */
async function readNdjson(body, onBatch) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let rest = "";
  const parse = (text) => {
    const records = [];
    for (const part of text.split("\n")) {
      if (part.trim()) {
        try {
          records.push(JSON.parse(part));
        } catch {
          // A malformed line is skipped rather than ending the follow.
        }
      }
    }
    return records;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    rest += decoder.decode(value, { stream: true });
    const cut = rest.lastIndexOf("\n");
    if (cut >= 0) {
      onBatch(parse(rest.slice(0, cut)));
      rest = rest.slice(cut + 1);
    }
  }
  onBatch(parse(rest + decoder.decode()));
}

function stop() {
  controller?.abort();
  controller = null;
  following = false;
}

async function load() {
  stop();
  clear();
  showError("");
  syncLinks();
  const opts = options();
  const mine = new AbortController();
  controller = mine;
  ended = false;
  empty.hidden = true;
  say("Loading logs…");
  const params = new URLSearchParams({
    tail: opts.tail,
    timestamps: String(opts.timestamps),
    follow: String(opts.follow),
  });
  try {
    const response = await fetch(`${viewer.dataset.logsUrl}?${params}`, {
      signal: mine.signal,
      credentials: "same-origin",
      headers: { Accept: opts.follow ? "application/x-ndjson" : "application/json" },
    });
    if (!response.ok) {
      throw await errorOf(response);
    }
    if (!opts.follow) {
      append(await response.json(), opts.timestamps);
      showEmpty();
      say(status(false));
      return;
    }
    following = true;
    showEmpty();
    say(status(true));
    await readNdjson(response.body, (records) => append(records, opts.timestamps));
    // The server ended the stream: the container stopped (or the host went away).
    following = false;
    ended = true;
    showEmpty();
    say(`${status(false)} The follow ended: the container is not running `
      + "(it resumes when the container runs again).");
  } catch (error) {
    if (mine.signal.aborted) {
      return; // we stopped it: follow switched off, options changed or page left
    }
    following = false;
    say("");
    showError(`Could not read the logs: ${error.message}`);
  } finally {
    if (controller === mine && !following) {
      controller = null;
    }
  }
}

function status(live) {
  const count = output.childElementCount;
  const lines = `${count.toLocaleString()} line${count === 1 ? "" : "s"}`;
  return live ? `Following: new lines appear as they are written (${lines} so far).`
    : `Showing ${lines}.`;
}

// -- search -------------------------------------------------------------------------------

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Highlight the search in one line; returns whether it matched. */
function applySearch(row) {
  const text = row.querySelector(".text");
  const line = text.textContent;
  if (text.childElementCount) {
    text.textContent = line; // drop the previous search's marks
  }
  if (!pattern) {
    row.hidden = false;
    return false;
  }
  pattern.lastIndex = 0;
  let match = pattern.exec(line);
  if (!match) {
    row.hidden = onlyMatching.checked;
    return false;
  }
  const parts = document.createDocumentFragment();
  let at = 0;
  while (match) {
    parts.append(line.slice(at, match.index));
    const mark = document.createElement("mark");
    mark.textContent = match[0];
    parts.append(mark);
    at = match.index + match[0].length;
    match = pattern.exec(line);
  }
  parts.append(line.slice(at));
  text.replaceChildren(parts);
  row.hidden = false;
  return true;
}

function countMatches() {
  if (!pattern) {
    matchCount.textContent = "";
    return;
  }
  const count = output.querySelectorAll(".line:has(mark)").length;
  matchCount.textContent = count ? `${count.toLocaleString()} matching line${count === 1 ? "" : "s"}`
    : "No line matches.";
}

function search() {
  const query = searchBox.value;
  pattern = query ? new RegExp(escapeRegExp(query), "gi") : null;
  for (const row of output.children) {
    applySearch(row);
  }
  countMatches();
  if (stick) {
    output.scrollTop = output.scrollHeight;
  }
}

// -- wiring -------------------------------------------------------------------------------

form.addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
tailSelect.addEventListener("change", load);
timestampsBox.addEventListener("change", load);
followBox.addEventListener("change", () => {
  if (followBox.checked) {
    load(); // the newest lines, then follow
    return;
  }
  // Switched off: stop reading, keep what is shown.
  const wasFollowing = following;
  stop();
  syncLinks();
  jump.hidden = true;
  if (wasFollowing) {
    say(`${status(false)} Follow is off.`);
  }
});

output.addEventListener("scroll", () => {
  stick = output.scrollTop + output.clientHeight >= output.scrollHeight - 8;
  jump.hidden = stick || !following;
});
jump.addEventListener("click", () => {
  stick = true;
  output.scrollTop = output.scrollHeight;
  jump.hidden = true;
  output.focus();
});

searchBar.hidden = false;
searchBox.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(search, SEARCH_DELAY_MS);
});
searchBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    clearTimeout(searchTimer);
    search();
  }
});
onlyMatching.addEventListener("change", search);

window.addEventListener("pagehide", stop);

// The header's state follows the container; a follow that ended resumes when it runs again.
subscribe("container.changed", (event) => {
  if (event.host !== head.dataset.host || event.id !== head.dataset.id) {
    return;
  }
  const state = document.getElementById("container-state");
  const value = event.container ? event.container.state : "removed";
  state.textContent = value;
  state.className = `state state-${value}`;
  if (value === "running" && ended && followBox.checked && !following) {
    load();
  }
});

load();
