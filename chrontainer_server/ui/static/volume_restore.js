// The restore dialog (volumes_restore.html) of the volumes page and the file browser. Into an
// existing volume it replaces the contents, so the user types the volume's name to confirm;
// into a new volume it asks for a host and a name. The .tar.gz is the request body as is (the
// browser streams the File), sent with XMLHttpRequest for its upload progress. A 409 naming
// running containers offers to stop them during the restore and retries with stop_containers.
import { csrfToken, size } from "./api.js";

const enc = encodeURIComponent;
const $ = (id) => document.getElementById(id);

/** Show `text` in the dialog's result line as "notice notice-<kind>". */
function result(text, kind = "ok") {
  const box = $("restore-result");
  box.textContent = text;
  box.className = `notice notice-${kind}`;
  box.hidden = !text;
}

/** POST the file; resolves { status, body } (body parsed JSON or null). */
function upload(url, file) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    const bar = $("restore-progress");
    const percent = $("restore-percent");
    request.open("POST", url);
    request.setRequestHeader("Content-Type", "application/gzip");
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-CSRF-Token", csrfToken());
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        bar.max = event.total;
        bar.value = event.loaded;
        percent.textContent = `${Math.floor((100 * event.loaded) / event.total)} %`;
      }
    });
    request.upload.addEventListener("load", () => {
      percent.textContent = "uploaded; restoring…";
    });
    request.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = null;
      }
      resolve({ status: request.status, body });
    });
    request.addEventListener("error", () => reject(new Error("the upload failed (network error)")));
    request.send(file);
  });
}

/**
 * Wire the dialog; `restored(result)` runs after a successful restore. Returns
 * open({ host, name }) for an existing volume, or open(null) for a new one.
 */
export function restoreDialog(restored) {
  const dialog = $("restore-dialog");
  const form = $("restore-form");
  let target = null; // { host, name } of an existing volume, or null for a new one
  let busy = false;

  function open(existing) {
    target = existing;
    form.reset();
    result("");
    $("restore-stop-fields").hidden = true;
    $("restore-progress-line").hidden = true;
    $("restore-ok").disabled = false;
    $("restore-new-fields").hidden = Boolean(existing);
    $("restore-replace-fields").hidden = !existing;
    $("restore-name").required = !existing;
    $("restore-confirm").required = Boolean(existing);
    if (existing) {
      $("restore-title").textContent = `Restore volume ${existing.name}`;
      $("restore-warning").textContent = `The contents of ${existing.name} on ${existing.host} `
        + "are replaced by the archive's: files not in the archive are deleted.";
      $("restore-confirm").placeholder = existing.name;
    } else {
      $("restore-title").textContent = "Restore into a new volume";
    }
    dialog.showModal();
    (existing ? $("restore-file") : $("restore-name")).focus();
  }

  async function submit() {
    const file = $("restore-file").files[0];
    if (busy || !file) {
      return;
    }
    const host = target ? target.host : $("restore-host").value;
    const name = target ? target.name : $("restore-name").value.trim();
    const query = new URLSearchParams();
    if (target) {
      query.set("confirm", $("restore-confirm").value);
    }
    if (!$("restore-stop-fields").hidden && $("restore-stop").checked) {
      query.set("stop_containers", "true");
    }
    const url = `/api/v1/hosts/${enc(host)}/volumes/${enc(name)}/restore?${query}`;
    busy = true;
    $("restore-ok").disabled = true;
    $("restore-progress-line").hidden = false;
    $("restore-progress").value = 0;
    $("restore-percent").textContent = "";
    result(`Uploading ${file.name} (${size(file.size)})…`, "ok");
    let answer;
    try {
      answer = await upload(url, file);
    } catch (error) {
      result(`Could not restore: ${error.message}`, "error");
      return;
    } finally {
      busy = false;
      $("restore-ok").disabled = false;
    }
    const { status, body } = answer;
    if (status === 200 && body) {
      $("restore-progress-line").hidden = true;
      const stopped = body.stopped?.length ? ` Stopped and started again: ${body.stopped.join(", ")}.` : "";
      result(`${body.created ? "Created" : "Replaced"} ${body.volume} on ${body.host}: `
        + `${body.entries} entries, ${size(body.bytes)} written.${stopped}`, "ok");
      restored(body);
      return;
    }
    const error = body?.error || {};
    const details = error.details || {};
    if (status === 409 && Array.isArray(details.containers) && details.containers.length) {
      $("restore-users").textContent = `${name} is used by running containers ${details.containers.join(", ")}.`;
      $("restore-stop-fields").hidden = false;
      result("Tick the box to stop them during the restore, then press Restore again.", "warn");
      $("restore-stop").focus();
    } else if (status === 409 && details.confirm && !target) {
      result(`A volume named ${name} already exists on ${host}: choose another name, or use Restore… on its row to replace it.`, "error");
    } else {
      result(`Could not restore: ${error.message || `the server answered ${status}`}`, "error");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  dialog.addEventListener("click", (event) => {
    if (event.target.closest("[data-close]")) {
      dialog.close();
    }
  });
  return open;
}
