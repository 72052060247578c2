// The tab's one live connection: a single EventSource on /api/v1/events/stream, shared by every
// script of the page (ES modules are evaluated once per page, so this module is a singleton).
// Browsers allow about six connections per origin; one stream per tab leaves room for log
// follows. Pages call subscribe() for the topics they need before the first event loop turn;
// the stream opens once, asking only for those topics.
//
// Each SSE message is `event: <topic>` + `data: <JSON>`. Topics: container.changed,
// container.meta, container.renamed, host.changed, docker.event, metrics.sampled and lagged
// (the server dropped events for this tab: resync, e.g. reload the list).

const handlers = new Map(); // topic -> Set of callbacks
let source = null;
let scheduled = false;

/**
 * Call `callback(data, topic)` for every event of `topic`; returns a function that unsubscribes.
 * "lagged" and "open" (the stream (re)connected: state may have been missed) are always
 * delivered to their subscribers.
 */
export function subscribe(topic, callback) {
  if (!handlers.has(topic)) {
    handlers.set(topic, new Set());
  }
  handlers.get(topic).add(callback);
  if (!source && !scheduled) {
    scheduled = true;
    queueMicrotask(open);
  }
  return () => handlers.get(topic)?.delete(callback);
}

function dispatch(topic, data) {
  for (const callback of handlers.get(topic) || []) {
    try {
      callback(data, topic);
    } catch (error) {
      console.error(`live: a ${topic} handler failed`, error);
    }
  }
}

function open() {
  const topics = [...handlers.keys()].filter((t) => t !== "open" && t !== "lagged");
  const url = `/api/v1/events/stream?topics=${encodeURIComponent(topics.join(","))}`;
  source = new EventSource(url, { withCredentials: true });
  let opened = false;
  source.addEventListener("open", () => {
    // After a reconnect the page may have missed events: let it resync.
    if (opened) {
      dispatch("open", { reconnected: true });
    }
    opened = true;
    document.documentElement.dataset.live = "open";
  });
  source.addEventListener("error", () => {
    document.documentElement.dataset.live = "reconnecting";
  });
  for (const topic of [...topics, "lagged"]) {
    source.addEventListener(topic, (message) => {
      let data = null;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      dispatch(topic, data);
    });
  }
  // The server closes streams when it shuts down; the browser reconnects by itself.
  window.addEventListener("pagehide", () => source?.close(), { once: true });
}
