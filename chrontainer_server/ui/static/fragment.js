// Refreshing a server-rendered part of a page: fetch the page again with an X-Fragment header
// (the server then renders only that part), and hand the fresh element to the page. One fetch
// at a time: calls made while one runs coalesce into one more fetch after it, so a burst of
// live events never queues a fetch per event. A session that ended (a redirect to the login
// page) or an error answer reaches onError, and the page stays as it is.

/**
 * @param {object} options
 * @param {string} options.path the page's path; the current query string is appended
 * @param {string} options.fragment the X-Fragment header value
 * @param {string} options.id the id of the fragment's root element
 * @param {(fresh: Element) => void} options.apply swaps the fresh element in
 * @param {(error: Error) => void} options.onError reports a failed refresh
 * @param {number} [options.debounceMs] the delay of refreshSoon
 * @returns {{refresh: () => Promise<void>, refreshSoon: () => void}}
 */
export function fragmentRefresher({ path, fragment, id, apply, onError, debounceMs = 300 }) {
  let running = null;
  let again = false;

  async function fetchOnce() {
    let html;
    try {
      const response = await fetch(`${path}${location.search}`, {
        credentials: "same-origin", headers: { "X-Fragment": fragment },
      });
      if (response.redirected) {
        throw new Error("your session has ended: reload the page to log in");
      }
      if (!response.ok) {
        throw new Error(`the server answered ${response.status}`);
      }
      html = await response.text();
    } catch (error) {
      onError(error);
      return false;
    }
    const template = document.createElement("template");
    template.innerHTML = html;
    const fresh = template.content.getElementById(id);
    if (fresh) {
      apply(fresh);
    }
    return true;
  }

  async function refresh() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        if (!(await fetchOnce())) {
          return;
        }
      } while (again);
    })();
    try {
      await running;
    } finally {
      running = null;
    }
  }

  let timer = null;
  function refreshSoon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, debounceMs);
  }

  return { refresh, refreshSoon };
}
