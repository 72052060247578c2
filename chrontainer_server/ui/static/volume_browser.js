// A volume's file browser (volume_browser.html), for operators: the preview panel (a text file's
// beginning, fetched from the API) and the restore dialog (volume_restore.js). Browsing itself
// is plain links (?path=), so back, forward and reload work without script.
import { api, notice, size } from "./api.js";
import { restoreDialog } from "./volume_restore.js";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const restoreButton = $("open-restore");
const { host, name } = restoreButton.dataset;
const panel = $("preview");

async function preview(button) {
  const row = button.closest("tr.entry");
  const path = row.dataset.path;
  $("preview-title").textContent = `Preview of ${path}`;
  $("preview-notice").hidden = true;
  $("preview-content").textContent = "Loading…";
  panel.hidden = false;
  panel.dataset.path = path;
  panel.dataset.state = "loading";
  let file;
  try {
    file = await api("GET", `/hosts/${enc(host)}/volumes/${enc(name)}/file?${new URLSearchParams({ path })}`);
  } catch (error) {
    $("preview-content").textContent = "";
    notice($("preview-notice"), `No preview: ${error.message}`, "error");
    panel.dataset.state = "error";
    panel.focus();
    return;
  }
  $("preview-content").textContent = file.content;
  if (file.truncated) {
    notice($("preview-notice"), `Truncated: showing the first ${size(file.limit)} of ${size(file.size)}.`, "warn");
  }
  panel.dataset.state = "ready";
  panel.focus();
}

document.getElementById("main").addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (button?.classList.contains("preview")) {
    preview(button);
  } else if (button?.id === "preview-close") {
    panel.hidden = true;
    document.querySelector(`tr.entry[data-path="${CSS.escape(panel.dataset.path || "")}"] button.preview`)?.focus();
  }
});

// After a restore the dialog shows what was written; closing it shows the new contents (from
// the root: the directory shown may be gone).
let restored = false;
const openRestore = restoreDialog(() => {
  restored = true;
});
$("restore-dialog").addEventListener("close", () => {
  if (restored) {
    location.assign(`/volumes/${enc(host)}/${enc(name)}`);
  }
});
restoreButton.addEventListener("click", () => openRestore({ host, name }));
