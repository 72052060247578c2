// The add/edit form of the settings lists (registries, notification channels): one form that
// adds a new item, or edits the one chosen in the list.
import { api } from "./api.js";

/**
 * Label the form for adding (`item` null: the title's and the save button's data-add texts,
 * no cancel button) or for editing `item` ("Edit <name>", "Save changes", a cancel button).
 */
export function formMode({ title, saveButton, cancelButton }, item = null) {
  title.textContent = item ? `Edit ${item.name}` : title.dataset.add;
  saveButton.textContent = item ? "Save changes" : saveButton.dataset.add;
  cancelButton.hidden = !item;
}

/** GET the item at `path` to edit it; on failure `status(message, false)` and null. */
export async function fetchItem(path, status) {
  try {
    return await api("GET", path);
  } catch (error) {
    status(error.message, false);
    return null;
  }
}

/**
 * Save the form: `request()` sends it and resolves to the API's answer (the item); then
 * `reset()` (back to adding), `refresh()` (the list) and "<noun> <name> saved." (or "added."
 * when `editing()` was null) in `status`. An API refusal goes next to its field
 * (`showError`), any other failure to `status`. The save button is disabled meanwhile.
 */
export async function saveForm({ saveButton, request, editing, reset, refresh, noun, status, showError }) {
  saveButton.disabled = true;
  try {
    const answer = await request();
    const verb = editing() ? "saved" : "added";
    reset();
    await refresh();
    status(`${noun} ${answer.name} ${verb}.`);
  } catch (error) {
    if (error.status) {
      showError(error);
    } else {
      status(error.message, false);
    }
  } finally {
    saveButton.disabled = false;
  }
}

/** A connection test's outcome in the paragraph `id`: green when `ok`, red when not, plain
 * when `ok` is null (in progress); hidden when `text` is empty. */
export function showCheck(id, ok, text) {
  const result = document.getElementById(id);
  result.classList.remove("ok", "failed");
  if (ok !== null) {
    result.classList.add(ok ? "ok" : "failed");
  }
  result.textContent = text;
  result.hidden = !text;
}
