// The events page's live feed: on the newest page, each engine event from live.js
// ("docker.event") that matches the page's filters is put on top of the server-rendered table,
// built like events_row.html. Pause holds new events back until resume. No request per event.
import { subscribe } from "./live.js";

const table = document.getElementById("event-list");

/**
 * The same rules as the server's EventFilter: exact host, type and action; the name a
 * case-insensitive substring; the object id exact, or a prefix when 12+ hex characters.
 */
function matcher({ host, type, action, name, object }) {
  const needle = name.toLowerCase();
  const prefix = /^[0-9a-f]{12,64}$/.test(object);
  return (event) => (!host || event.host === host)
    && (!type || event.type === type)
    && (!action || event.action === action)
    && (!needle || (event.name || "").toLowerCase().includes(needle))
    && (!object || event.object_id === object || (prefix && String(event.object_id).startsWith(object)));
}

/** "2024-05-01T10:20:30.123456Z" -> "2024-05-01 10:20:30", as the server shows UTC times. */
function utc(iso) {
  return String(iso).slice(0, 19).replace("T", " ");
}

function cell(label, ...children) {
  const td = document.createElement("td");
  td.dataset.label = label;
  td.append(...children);
  return td;
}

function span(className, text) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

/** One event's row, the structure of events_row.html, filled with textContent only. */
function rowFor(event) {
  const time = document.createElement("time");
  time.dateTime = event.time;
  time.textContent = utc(event.time);
  let name = event.name || "";
  if (event.type === "container" && name) {
    const link = document.createElement("a");
    link.href = `/containers/${encodeURIComponent(event.host)}/${encodeURIComponent(name)}/logs`;
    link.textContent = name;
    name = link;
  }
  const attributes = Object.entries(event.attributes || {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => {
      const attr = span("attr", "");
      const text = String(value);
      let shown = text;
      if (/^[0-9a-f]{64}$/.test(text)) { // an engine id: short, the full one on hover
        shown = span("mono", text.slice(0, 12));
        shown.title = text;
      }
      attr.append(span("muted", `${key}=`), shown);
      return attr;
    });
  const id = cell("ID", String(event.object_id || "").slice(0, 12));
  id.className = "mono nowrap";
  id.title = event.object_id || "";
  const cells = [
    cell("Time", time),
    cell("Host", event.host),
    cell("Type", span(`event-type event-type-${event.type}`, event.type)),
    cell("Action", event.action),
    cell("Name", name),
    id,
    cell("Details", ...attributes),
  ];
  cells[0].className = "mono nowrap";
  cells[1].className = "nowrap";
  cells[3].className = "mono";
  cells[4].className = "wrap";
  cells[6].className = "wrap attributes";
  const tr = document.createElement("tr");
  tr.className = "event-row fresh";
  tr.dataset.type = event.type;
  tr.dataset.host = event.host;
  tr.dataset.action = event.action;
  tr.append(...cells);
  return tr;
}

function startLiveFeed() {
  const body = table.tBodies[0];
  const cap = Math.max(Number(table.dataset.limit) || 50, 1);
  const matches = matcher(table.dataset);
  const bar = document.getElementById("events-live");
  const pause = document.getElementById("events-pause");
  const waiting = document.getElementById("events-waiting");
  const count = document.getElementById("events-count");
  let total = Number(count?.dataset.total) || 0;
  let held = [];

  function show(events) {
    body.prepend(...events.map(rowFor).reverse()); // newest first
    while (body.rows.length > cap) {
      body.lastElementChild.remove();
    }
    total += events.length;
    if (count) {
      count.dataset.total = String(total);
      count.textContent = `1–${body.rows.length} of ${total}`;
    }
    table.hidden = false;
    document.getElementById("events-empty")?.setAttribute("hidden", "");
  }

  function updateWaiting() {
    waiting.hidden = held.length === 0;
    waiting.textContent = `${held.length} new event${held.length === 1 ? "" : "s"} waiting.`;
  }

  pause.addEventListener("click", () => {
    const paused = pause.getAttribute("aria-pressed") !== "true";
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume live feed" : "Pause live feed";
    bar.classList.toggle("paused", paused);
    if (!paused && held.length) {
      show(held);
      held = [];
    }
    updateWaiting();
  });

  subscribe("docker.event", (event) => {
    if (!event || !matches(event)) {
      return;
    }
    if (pause.getAttribute("aria-pressed") === "true") {
      held.push(event);
      held = held.slice(-cap); // only the newest `cap` could be shown anyway
      updateWaiting();
    } else {
      show([event]);
    }
  });
  // Events sent while the stream was down (or dropped for lagging) are in the log, not here.
  const missed = () => {
    document.getElementById("events-missed").hidden = false;
  };
  subscribe("open", missed);
  subscribe("lagged", missed);
}

if (table?.dataset.live === "true") {
  startLiveFeed();
}
