// The inspect page's tools: search keys and values, expand or collapse everything, copy the JSON.
//
// The tree is server-rendered nested <details> (see container_inspect.html): each <li> holds a
// key (.k) and either a value (.v) or a <details> with the members in a <ul>. A search
// highlights matches with <mark> (text nodes only: engine data is never parsed as markup),
// opens the ancestors of every match and hides the branches without one. A branch whose key
// matches stays visible whole. Clearing the search brings back the folding the user had.

const tree = document.getElementById("inspect-tree");
const tools = document.getElementById("inspect-tools");
const searchBox = document.getElementById("inspect-search");
const statusLine = document.getElementById("inspect-status");
const expand = document.getElementById("inspect-expand");
const collapse = document.getElementById("inspect-collapse");
const copy = document.getElementById("inspect-copy");
const json = document.getElementById("inspect-json");

const SEARCH_DELAY_MS = 100;
let saved = null; // Map(details -> open) from before the search, restored when it is cleared
let timer = 0;

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Mark the matches of `pattern` in one span; returns whether it matched. */
function highlight(span, pattern) {
  const text = span.textContent;
  if (span.childElementCount) {
    span.textContent = text;
  }
  if (!pattern) {
    return false;
  }
  pattern.lastIndex = 0;
  let match = pattern.exec(text);
  if (!match) {
    return false;
  }
  const parts = document.createDocumentFragment();
  let at = 0;
  while (match) {
    parts.append(text.slice(at, match.index));
    const mark = document.createElement("mark");
    mark.textContent = match[0];
    parts.append(mark);
    at = match.index + match[0].length;
    match = pattern.exec(text);
  }
  parts.append(text.slice(at));
  span.replaceChildren(parts);
  return true;
}

/** Search one node: returns [has a match in it or below, number of matches]. */
function visit(li, pattern, shownByAncestor) {
  const details = li.querySelector(":scope > details");
  const own = details
    ? [...details.querySelectorAll(":scope > summary > .k")]
    : [...li.querySelectorAll(":scope > .k, :scope > .v")];
  let count = 0;
  for (const span of own) {
    count += highlight(span, pattern) ? 1 : 0;
  }
  const self = count > 0;
  let below = false;
  if (details) {
    for (const child of details.querySelectorAll(":scope > ul > li")) {
      const [found, n] = visit(child, pattern, shownByAncestor || self);
      below ||= found;
      count += n;
    }
    if (pattern && below) {
      details.open = true; // a match inside: show the way to it
    }
  }
  li.hidden = Boolean(pattern) && !self && !below && !shownByAncestor;
  return [self || below, count];
}

function search() {
  const query = searchBox.value.trim();
  const pattern = query ? new RegExp(escapeRegExp(query), "gi") : null;
  if (pattern && !saved) {
    saved = new Map([...tree.querySelectorAll("details")].map((d) => [d, d.open]));
  }
  let total = 0;
  for (const li of tree.querySelectorAll(":scope > li")) {
    total += visit(li, pattern, false)[1];
  }
  if (!pattern) {
    for (const [details, open] of saved || []) {
      details.open = open;
    }
    saved = null;
    statusLine.textContent = "";
    return;
  }
  statusLine.textContent = total
    ? `${total} match${total === 1 ? "" : "es"}`
    : `No key or value contains “${query}”.`;
}

function setAll(open) {
  saved = null; // the user chose the folding: a cleared search keeps it
  for (const details of tree.querySelectorAll("details")) {
    details.open = open;
  }
}

async function copyJson() {
  try {
    await navigator.clipboard.writeText(json.textContent);
    statusLine.textContent = "The JSON is copied.";
  } catch {
    // No clipboard access (plain http, or refused): select the text for Ctrl+C instead.
    document.getElementById("inspect-raw").open = true;
    const range = document.createRange();
    range.selectNodeContents(json);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    json.focus();
    statusLine.textContent = "The JSON is selected: press Ctrl+C (⌘C) to copy it.";
  }
}

if (tree && tools) {
  tools.hidden = false;
  searchBox.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, SEARCH_DELAY_MS);
  });
  searchBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(timer);
      search();
    } else if (event.key === "Escape" && searchBox.value) {
      searchBox.value = "";
      search();
    }
  });
  expand.addEventListener("click", () => setAll(true));
  collapse.addEventListener("click", () => setAll(false));
  copy.addEventListener("click", copyJson);
}
