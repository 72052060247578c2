// What the schedule pages and the webhooks page share: the target fields (schedules_target.html),
// field errors from the API's details.field, and times shown in the browser's zone. The
// settings lists (registries, notification channels) use the field errors and the page reload.

/**
 * Show every <time class="local"> under `root` in the browser's local time (UTC stays in the
 * title); class "precise" adds the seconds (runs of one minute tell apart).
 */
export function localTimes(root = document) {
  for (const time of root.querySelectorAll("time.local")) {
    const moment = new Date(time.dateTime);
    if (!Number.isNaN(moment.getTime())) {
      const timeStyle = time.classList.contains("precise") ? "medium" : "short";
      time.textContent = moment.toLocaleString(undefined, { dateStyle: "medium", timeStyle });
    }
  }
}

/** Parse server-rendered HTML holding one element (a <tr> parses only inside <template>). */
export function parse(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

/** GET a server-rendered page or fragment: { response, html } (html null unless text/html). */
export async function fetchHtml(path) {
  const response = await fetch(path, { headers: { Accept: "text/html" }, credentials: "same-origin" });
  const html = response.headers.get("Content-Type")?.startsWith("text/html") ? await response.text() : null;
  return { response, html };
}

/** GET a server-rendered page again, parsed; throws when it does not come back as HTML. */
export async function fetchPage(path) {
  const { response, html } = await fetchHtml(path);
  if (!response.ok || !html) {
    throw new Error(`could not reload the page (${response.status})`);
  }
  return new DOMParser().parseFromString(html, "text/html");
}

/** Swap the elements `ids` of this page for their versions in `page` (from fetchPage). */
export function swapParts(page, ids) {
  for (const id of ids) {
    document.getElementById(id).replaceWith(document.importNode(page.getElementById(id), true));
  }
}

/**
 * Field errors: `ids` maps an API field name (details.field) to the id of the input it is
 * about (the message goes to "<id>-error"), or to [input id, error box id]; the input gets
 * aria-invalid. `ids` may be a function, called when an error shows (the ids may change).
 */
export class FieldErrors {
  constructor(form, ids, fallbackId) {
    this.form = form;
    this.ids = ids;
    this.fallbackId = fallbackId;
  }

  clear(only) {
    for (const error of this.form.querySelectorAll(".error")) {
      if (!only || only.includes(error.id)) {
        error.hidden = true;
        error.textContent = "";
      }
    }
    for (const input of this.form.querySelectorAll("[aria-invalid]")) {
      if (!only || only.includes(input.dataset.errorBox || `${input.id}-error`)) {
        input.removeAttribute("aria-invalid");
      }
    }
    if (!only) {
      const fallback = document.getElementById(this.fallbackId);
      if (fallback) {
        fallback.hidden = true;
      }
    }
  }

  /** Show an API error next to its field; returns the input it was put on, if any. */
  show(error) {
    const field = error.details?.field || "";
    const ids = typeof this.ids === "function" ? this.ids() : this.ids;
    // "allowed_cidrs[2]" is about the field "allowed_cidrs".
    const entry = ids[field] ?? ids[field.replace(/\[\d+\].*$/, "")];
    const [id, boxId] = Array.isArray(entry) ? entry : [entry, `${entry}-error`];
    const input = id && document.getElementById(id);
    const box = id && document.getElementById(boxId);
    if (!input || !box) {
      const fallback = document.getElementById(this.fallbackId);
      fallback.textContent = error.message;
      fallback.hidden = false;
      return null;
    }
    // The API names the field first ("trigger.cron: ..."): the page shows it by the field.
    box.textContent = error.message.replace(/^[\w.[\]]+: /, "");
    box.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.dataset.errorBox = boxId;
    input.closest("details")?.setAttribute("open", "");
    return input;
  }
}

/**
 * The target fields of one fieldset (data-prefix): shows the container choice of the chosen
 * host, the label field or nothing by kind, and only the actions that apply to the kind.
 */
export function targetFields(fieldset) {
  const p = fieldset.dataset.prefix;
  const host = document.getElementById(`${p}-host`);
  const action = document.getElementById(`${p}-action`);
  const label = document.getElementById(`${p}-label`);
  const image = document.getElementById(`${p}-image`);

  function kind() {
    return fieldset.querySelector('[data-role="kind"]:checked')?.value || "container";
  }

  function keySelect() {
    return document.getElementById(`${p}-key-${host.value}`);
  }

  function sync() {
    const current = kind();
    for (const block of fieldset.querySelectorAll(".field[data-kinds]")) {
      block.hidden = !block.dataset.kinds.split(" ").includes(current);
    }
    for (const choice of fieldset.querySelectorAll(".key-choice")) {
      choice.hidden = choice.dataset.host !== host.value;
    }
    let selectedFits = false;
    for (const option of action.options) {
      const fits = option.dataset.kinds.split(" ").includes(current);
      option.hidden = !fits;
      option.disabled = !fits;
      selectedFits ||= fits && option.selected;
    }
    if (!selectedFits) {
      action.value = [...action.options].find((o) => !o.disabled)?.value || "";
    }
  }

  fieldset.addEventListener("change", sync);
  sync();

  return {
    /** Show the fields of the current choices again (after a form reset). */
    sync,
    /** The target as the API takes it: {kind, host} plus key, label or image by kind. */
    target() {
      const target = { kind: kind(), host: host.value };
      if (target.kind === "container") {
        target.key = keySelect()?.value || "";
      } else if (target.kind === "label") {
        target.label = label.value.trim();
      } else if (target.kind === "image") {
        target.image = image.value.trim();
      }
      return target;
    },
    action() {
      return action.value;
    },
    /** API field names -> input ids, for FieldErrors. */
    errorIds() {
      const kindInput = fieldset.querySelector('[data-role="kind"]:checked') || fieldset.querySelector('[data-role="kind"]');
      kindInput.id ||= `${p}-kind-${kindInput.value}`;
      return {
        "target.kind": [kindInput.id, `${p}-kind-error`],
        "target.host": `${p}-host`,
        "target.key": [keySelect()?.id || `${p}-host`, `${p}-key-error`],
        "target.label": `${p}-label`,
        "target.image": `${p}-image`,
        "target": `${p}-host`,
        "action": `${p}-action`,
      };
    },
  };
}

/** A run's result for a status line: "nightly: ok (restarted web)". */
export function runSummary(run) {
  const why = run.error || run.detail;
  return `${run.name || "Run"}: ${run.result}${why ? ` (${why})` : ""}`;
}
