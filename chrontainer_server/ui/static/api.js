// A small client of the JSON API for the pages: sends the session's CSRF token on changes and
// turns error bodies into exceptions with a readable message. Also the few DOM and formatting
// helpers every page uses (status lines, elements, dates, sizes).

const PREFIX = "/api/v1";

/** An API error: `status`, `code` and the server's message. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

/**
 * Call the API; resolves to the parsed JSON body (null for 204), rejects with an ApiError.
 * A 429 carries `retryAfter` (seconds) from the Retry-After header.
 */
export async function api(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-CSRF-Token"] = token || csrfToken();
  }
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(PREFIX + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 204) {
    return null;
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error || {};
    const failure = new ApiError(response.status, error.code || "error",
      error.message || `request failed (${response.status})`, error.details);
    failure.retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw failure;
  }
  return data;
}

/** Show `text` in the element `id` (a role=alert/status paragraph), or hide it when empty. */
export function say(id, text) {
  const element = document.getElementById(id);
  if (!element) {
    return;
  }
  element.textContent = text || "";
  element.hidden = !text;
}

/** Show `text` in the status region `id` in green, or in red when not `ok`; hide it when empty. */
export function report(id, text, ok = true) {
  const region = document.getElementById(id);
  region.classList.toggle("notice-ok", ok);
  region.classList.toggle("notice-error", !ok);
  say(id, text);
}

/** Show `text` in the notice `box` as "notice notice-<kind>" (ok, warn, error); hide it when empty. */
export function notice(box, text, kind = "ok") {
  box.textContent = text || "";
  box.className = `notice notice-${kind}`;
  box.hidden = !text;
}

/** A form's fields as an object of strings. */
export function fields(form) {
  return Object.fromEntries(new FormData(form).entries());
}

/** Build an element: el("td", {className: "mono"}, "text", child). */
export function el(tag, props, ...children) {
  const element = document.createElement(tag);
  Object.assign(element, props || {});
  for (const child of children) {
    element.append(child instanceof Node ? child : String(child ?? ""));
  }
  return element;
}

/** A date-time from the API shown in the browser's locale. */
export function when(value) {
  return value ? new Date(value).toLocaleString() : "";
}

/** Bytes in binary units, as the server's dashboard_view.size() writes them. */
export function size(n) {
  let value = n;
  for (const unit of ["B", "KiB", "MiB", "GiB"]) {
    if (value < 1024 || unit === "GiB") {
      return unit === "B" ? `${Math.trunc(value)} B` : `${value.toFixed(1)} ${unit}`;
    }
    value /= 1024;
  }
  return "";
}

/** "key=value" lines as an object; throws on a line without "=" or an empty key. */
export function keyValues(text, what) {
  const pairs = {};
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) {
      continue;
    }
    const at = line.indexOf("=");
    if (at < 1) {
      throw new Error(`${what}, line ${index + 1}: write key=value`);
    }
    pairs[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return pairs;
}
