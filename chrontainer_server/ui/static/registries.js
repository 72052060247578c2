// The Registries section of Settings: add, edit, test and delete registries through the JSON
// API, browse a registry's catalog and tags, and search every registry at once. Passwords are
// write-only: an edit never shows one, and an empty password field keeps the stored one. After a
// change the page is fetched again and its list swapped (the server renders the rows).
import { api, el, report, say } from "./api.js";
import { deleteConfirmation } from "./dialogs.js";
import { fetchItem, formMode, saveForm, showCheck } from "./item_form.js";
import { FieldErrors, fetchPage, swapParts } from "./schedules_shared.js";

const PAGE = "/settings/registries";

const form = document.getElementById("registry-form");
const kindSelect = document.getElementById("rg-kind");
const urlInput = document.getElementById("rg-url");
const passwordInput = document.getElementById("rg-password");
const clearPassword = document.getElementById("rg-clear-password");
const title = document.getElementById("registry-form-title");
const saveButton = document.getElementById("registry-save");
const cancelButton = document.getElementById("registry-cancel");
const formParts = { title, saveButton, cancelButton };
const formTestButton = document.getElementById("registry-form-test");
const dialog = document.getElementById("registry-confirm");

let editing = null; // the registry being edited (API answer), or null when adding

const status = (text, ok) => report("registries-status", text, ok);

const errors = new FieldErrors(form, {
  kind: "rg-kind", url: "rg-url", name: "rg-name", username: "rg-username", password: "rg-password",
}, "rg-form-error");

function showError(error) {
  (errors.show(error) || document.getElementById("rg-form-error")).focus();
}

// -- the kind: presets fill and lock the URL ----------------------------------------------------

function showKind() {
  const option = kindSelect.selectedOptions[0];
  const preset = option?.dataset.url || "";
  document.getElementById("rg-url-help").textContent = option?.dataset.help || "";
  if (preset) {
    urlInput.value = preset;
    urlInput.readOnly = true;
    urlInput.required = false;
  } else {
    if (urlInput.readOnly) {
      urlInput.value = ""; // a preset's URL is not a useful start for another server
    }
    urlInput.readOnly = false;
    urlInput.required = true;
  }
}

// -- add and edit -------------------------------------------------------------------------------

function addMode() {
  editing = null;
  const kind = kindSelect.value;
  form.reset();
  kindSelect.value = kind;
  kindSelect.disabled = false;
  errors.clear();
  showCheck("rg-test-result", null, "");
  document.getElementById("rg-password-state").hidden = true;
  document.getElementById("rg-clear-password-field").hidden = true;
  formMode(formParts);
  urlInput.readOnly = false;
  showKind();
}

async function editMode(id) {
  const registry = await fetchItem(`/registries/${id}`, status);
  if (!registry) {
    return;
  }
  addMode();
  editing = registry;
  kindSelect.value = registry.kind;
  kindSelect.disabled = true; // a registry keeps its kind: for another one, add a new one
  showKind();
  urlInput.value = registry.url;
  document.getElementById("rg-name").value = registry.name;
  document.getElementById("rg-username").value = registry.username || "";
  const state = document.getElementById("rg-password-state");
  state.textContent = registry.has_password ? "Stored — leave empty to keep it" : "None stored";
  state.hidden = false;
  document.getElementById("rg-clear-password-field").hidden = !registry.has_password;
  formMode(formParts, registry);
  document.getElementById("registry-editor").scrollIntoView({ block: "start" });
  document.getElementById("rg-name").focus();
}

function value(id) {
  return document.getElementById(id).value.trim();
}

/** The form as the API takes it. A preset's URL is the server's to fill in; the password goes
 * only when typed, or as null to remove the stored one (left out, an edit keeps it). */
function body() {
  const data = { name: value("rg-name"), username: value("rg-username") || null };
  if (!urlInput.readOnly) {
    data.url = value("rg-url");
  }
  if (passwordInput.value) {
    data.password = passwordInput.value;
  } else if (editing && clearPassword.checked) {
    data.password = null;
  }
  if (!editing) {
    data.kind = kindSelect.value;
  }
  return data;
}

async function save(event) {
  event.preventDefault();
  errors.clear();
  showCheck("rg-test-result", null, "");
  say("registries-status", "");
  await saveForm({
    saveButton,
    request: () => (editing
      ? api("PATCH", `/registries/${editing.id}`, body())
      : api("POST", "/registries", body())),
    editing: () => editing,
    reset: addMode,
    refresh,
    noun: "Registry",
    status,
    showError,
  });
}

/** Test the login the form describes, before saving it. */
async function testForm() {
  errors.clear();
  const data = body();
  delete data.name;
  let request;
  if (editing && !("password" in data)) {
    // The stored password is never sent back to the browser: only the stored login as a
    // whole can be tried with it.
    const same = (data.username || null) === (editing.username || null)
      && (!("url" in data) || data.url === editing.url);
    if (!same) {
      showCheck("rg-test-result", false,
        "Type the password to test a changed login (the stored one is used only as saved).");
      return;
    }
    request = api("POST", `/registries/${editing.id}/test`);
  } else {
    request = api("POST", "/registries/test", { ...data, kind: kindSelect.value });
  }
  showCheck("rg-test-result", null, "Testing…");
  formTestButton.disabled = true;
  try {
    const answer = await request;
    showCheck("rg-test-result", answer.ok, answer.message);
  } catch (error) {
    showCheck("rg-test-result", null, "");
    if (error.status) {
      showError(error);
    } else {
      showCheck("rg-test-result", false, error.message);
    }
  } finally {
    formTestButton.disabled = false;
  }
}

/** Fetch the page again and swap the list and its empty state for fresh ones. */
async function refresh() {
  swapParts(await fetchPage(PAGE), ["registry-list", "registries-empty"]);
}

// -- row actions ----------------------------------------------------------------------------------

async function testRow(row, button) {
  const id = `registry-${row.dataset.id}-test`;
  showCheck(id, null, "Testing…");
  button.disabled = true;
  try {
    const answer = await api("POST", `/registries/${row.dataset.id}/test`);
    showCheck(id, answer.ok, answer.message);
  } catch (error) {
    showCheck(id, false, error.message);
  } finally {
    button.disabled = false;
  }
}

const confirmDelete = deleteConfirmation(dialog, "registry", (id) => `/registries/${id}`,
  async ({ id, name }) => {
    if (editing && String(editing.id) === id) {
      addMode();
    }
    if (browsing && String(browsing.id) === id) {
      closeBrowse();
    }
    status(`Registry ${name} deleted.`);
    await refresh().catch((error) => status(error.message, false));
  });

// -- pull links -----------------------------------------------------------------------------------

/** What to pull: `host/repo:tag`, or the familiar form on Docker Hub (`nginx:1`, `me/app:1`). */
export function reference(registry, repository, tag) {
  if (registry === "docker.io") {
    const name = repository.startsWith("library/") ? repository.slice("library/".length) : repository;
    return `${name}:${tag}`;
  }
  return `${registry}/${repository}:${tag}`;
}

function pullLink(ref, label) {
  return el("a", {
    className: "button pull-link",
    href: `/images?pull=${encodeURIComponent(ref)}`,
    ariaLabel: `Pull ${ref}`,
  }, label || "Pull…");
}

// -- browse ---------------------------------------------------------------------------------------

const browseSection = document.getElementById("browse");
const repoList = document.getElementById("browse-repos");
const moreButton = document.getElementById("browse-more");
let browsing = null; // {id, name, registry, next}
let repoCount = 0;

function closeBrowse() {
  browsing = null;
  browseSection.hidden = true;
  repoList.replaceChildren();
}

function browseError(error) {
  document.getElementById("browse-error-text").textContent = error.message;
  document.getElementById("browse-search-hint").hidden = browsing.registry !== "docker.io";
  document.getElementById("browse-error").hidden = false;
}

async function browse(row) {
  browsing = { id: row.dataset.id, name: row.dataset.name, registry: row.dataset.registry, next: null };
  document.getElementById("browse-title").textContent = `Browse ${row.dataset.name}`;
  document.getElementById("browse-error").hidden = true;
  document.getElementById("browse-empty").hidden = true;
  repoList.replaceChildren();
  moreButton.hidden = true;
  browseSection.hidden = false;
  browseSection.scrollIntoView({ block: "start" });
  browseSection.focus();
  await loadCatalog();
}

async function loadCatalog() {
  const current = browsing;
  // The page size comes from the server (data-page-size), like every other setting of a page.
  const query = new URLSearchParams({ n: browseSection.dataset.pageSize || "50" });
  if (current.next) {
    query.set("last", current.next);
  }
  say("browse-loading", "Loading…");
  moreButton.disabled = true;
  let page;
  try {
    page = await api("GET", `/registries/${current.id}/catalog?${query}`);
  } catch (error) {
    if (browsing === current) {
      browseError(error);
    }
    return;
  } finally {
    say("browse-loading", "");
    moreButton.disabled = false;
  }
  if (browsing !== current) {
    return; // another registry was opened meanwhile
  }
  const first = repoList.querySelector(".repo-toggle") === null;
  for (const repository of page.repositories) {
    repoList.append(repoItem(current, repository));
  }
  current.next = page.next || null;
  moreButton.hidden = !current.next;
  document.getElementById("browse-empty").hidden = !(first && page.repositories.length === 0);
  if (!first) {
    // Keyboard users continue where the new page starts.
    repoList.children[repoList.children.length - page.repositories.length]?.querySelector("button")?.focus();
  }
}

function repoItem(registry, repository) {
  repoCount += 1;
  const tagsId = `repo-tags-${repoCount}`;
  const toggle = el("button", { type: "button", className: "repo-toggle" }, repository);
  toggle.dataset.repository = repository;
  toggle.setAttribute("aria-expanded", "false");
  toggle.setAttribute("aria-controls", tagsId);
  const tags = el("div", { id: tagsId, className: "repo-tags", hidden: true });
  const item = el("li", { className: "repo" }, toggle, tags);
  item.dataset.repository = repository;
  return item;
}

async function toggleRepo(button) {
  const open = button.getAttribute("aria-expanded") === "true";
  const box = document.getElementById(button.getAttribute("aria-controls"));
  button.setAttribute("aria-expanded", String(!open));
  box.hidden = open;
  if (open || box.dataset.loaded) {
    return;
  }
  const current = browsing;
  const repository = button.dataset.repository;
  box.replaceChildren(el("p", { className: "muted", role: "status" }, "Loading tags…"));
  try {
    const answer = await api("GET", `/registries/${current.id}/tags?${new URLSearchParams({ repository })}`);
    const names = answer;
    box.dataset.loaded = "1";
    if (!names.length) {
      box.replaceChildren(el("p", { className: "empty" }, "No tags."));
      return;
    }
    const list = el("ul", { className: "tag-list" });
    for (const tag of names) {
      const ref = reference(current.registry, repository, tag);
      list.append(el("li", { className: "tag" }, el("span", { className: "mono tag-name" }, tag), " ", pullLink(ref)));
    }
    box.replaceChildren(list);
  } catch (error) {
    box.replaceChildren(el("p", { className: "error", role: "alert" }, error.message));
  }
}

// -- search ---------------------------------------------------------------------------------------

const results = document.getElementById("search-results");
const notices = document.getElementById("search-notices");

function registryNames() {
  const names = new Map([["docker.io", "Docker Hub"]]);
  for (const row of document.querySelectorAll("#registry-list tr[data-registry]")) {
    names.set(row.dataset.registry, row.dataset.name);
  }
  return names;
}

async function search(event) {
  event.preventDefault();
  const query = document.getElementById("search-q").value.trim();
  say("search-error", "");
  say("search-empty", "");
  notices.replaceChildren();
  results.replaceChildren();
  if (!query) {
    say("search-error", "Type a name (or part of one) to search for.");
    document.getElementById("search-q").focus();
    return;
  }
  const button = document.getElementById("search-submit");
  button.disabled = true;
  say("search-loading", "Searching…");
  let answer;
  try {
    answer = await api("GET", `/registries/search?${new URLSearchParams({ q: query })}`);
  } catch (error) {
    say("search-error", error.message);
    return;
  } finally {
    button.disabled = false;
    say("search-loading", "");
  }
  const names = registryNames();
  // One failing registry does not hide the others' hits: it is a notice of its own.
  for (const [registry, message] of Object.entries(answer.errors || {})) {
    const item = el("li", { className: "notice notice-warn search-notice" },
      el("strong", {}, names.get(registry) || registry), `: ${message}`);
    item.dataset.registry = registry;
    notices.append(item);
  }
  const groups = new Map();
  for (const hit of answer.hits || []) {
    if (!groups.has(hit.registry)) {
      groups.set(hit.registry, { name: hit.registry_name, hits: [] });
    }
    groups.get(hit.registry).hits.push(hit);
  }
  if (!groups.size) {
    say("search-empty", `Nothing matches “${query}”.`);
    return;
  }
  for (const [registry, group] of groups) {
    const list = el("ul", { className: "hit-list" });
    for (const hit of group.hits) {
      const about = el("div", { className: "hit-about" },
        el("span", { className: "mono hit-reference" }, hit.reference));
      if (hit.official) {
        about.append(" ", el("span", { className: "chip" }, "official"));
      }
      if (hit.stars !== null && hit.stars !== undefined) {
        about.append(" ", el("span", { className: "muted hit-stars" }, `★ ${hit.stars}`));
      }
      if (hit.description) {
        about.append(el("p", { className: "help hit-description" }, hit.description));
      }
      const item = el("li", { className: "hit" }, about, pullLink(hit.reference));
      item.dataset.reference = hit.reference;
      list.append(item);
    }
    const heading = el("h3", {}, group.name, " ", el("span", { className: "muted mono" }, registry));
    const section = el("section", { className: "hit-group" }, heading, list);
    section.dataset.registry = registry;
    results.append(section);
  }
}

// -- wiring ---------------------------------------------------------------------------------------

document.getElementById("main").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) {
    if (event.target.id === "browse-search-link") {
      event.preventDefault();
      document.getElementById("search-q").focus();
    }
    return;
  }
  const row = button.closest("tr[data-id]");
  if (button.classList.contains("repo-toggle")) {
    toggleRepo(button);
    return;
  }
  switch (button.dataset.action) {
    case "test":
      testRow(row, button);
      return;
    case "browse":
      browse(row);
      return;
    case "edit":
      editMode(row.dataset.id);
      return;
    case "delete":
      confirmDelete(row);
      return;
    case "close":
      button.closest("dialog")?.close();
      return;
    default:
  }
  if (button === cancelButton) {
    addMode();
    document.getElementById("rg-name").focus();
  } else if (button === formTestButton) {
    testForm();
  } else if (button === moreButton) {
    loadCatalog();
  } else if (button.id === "browse-close") {
    closeBrowse();
    document.getElementById("registries-title").scrollIntoView();
  }
});

kindSelect.addEventListener("change", () => {
  errors.clear();
  showKind();
});
form.addEventListener("submit", save);
document.getElementById("registry-search").addEventListener("submit", search);
showKind();
