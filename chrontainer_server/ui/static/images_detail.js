// An image's detail page: the operators' tag form (through the JSON API); the page reloads to
// show the new tag.
import { api, say } from "./api.js";

const form = document.getElementById("detail-tag");

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const { host, ref } = form.dataset;
  const repository = form.elements.repository.value.trim();
  const tag = form.elements.tag.value.trim();
  const box = document.getElementById("detail-status");
  try {
    await api("POST", `/hosts/${encodeURIComponent(host)}/images/${encodeURIComponent(ref)}/tag`,
      { repository, tag });
  } catch (error) {
    box.className = "notice notice-error";
    say("detail-status", `Could not tag the image: ${error.message}`);
    return;
  }
  box.className = "notice notice-ok";
  say("detail-status", `Tagged as ${repository}:${tag}.`);
  location.reload();
});
