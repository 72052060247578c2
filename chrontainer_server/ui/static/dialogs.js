// Modal dialogs the pages share: a <dialog> that answers OK or not, and the delete
// confirmation of the settings lists (registries, notification channels).
import { api, say } from "./api.js";

/** Show a modal dialog; resolves true when its OK button closed it. */
export function ask(dialog) {
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

/**
 * The delete confirmation of a settings list: `dialog` (id X) holds X-title, X-error and the
 * submit button X-ok in a form. The returned `confirmDelete(row)` asks "Delete <noun> <name>?" for a
 * row (data-id, data-name); submitting deletes `path(id)` through the API, shows a refusal in
 * the dialog, or closes it and calls `deleted({ id, name })`.
 */
export function deleteConfirmation(dialog, noun, path, deleted) {
  let pending = null;
  dialog.querySelector("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const { id, name } = pending;
    const button = document.getElementById(`${dialog.id}-ok`);
    button.disabled = true;
    try {
      await api("DELETE", path(id));
    } catch (error) {
      say(`${dialog.id}-error`, error.message);
      return;
    } finally {
      button.disabled = false;
    }
    dialog.close();
    await deleted({ id, name });
  });
  return function confirmDelete(row) {
    pending = { id: row.dataset.id, name: row.dataset.name };
    document.getElementById(`${dialog.id}-title`).textContent = `Delete ${noun} ${row.dataset.name}?`;
    say(`${dialog.id}-error`, "");
    dialog.showModal();
  };
}
