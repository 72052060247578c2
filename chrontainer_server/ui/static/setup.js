// The first-admin form of the setup link: creates the account, which logs it in.
import { api, fields, say } from "./api.js";

const form = document.getElementById("setup-form");

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  say("setup-error", "");
  const { token, username, password, password2 } = fields(form);
  if (password !== password2) {
    say("setup-error", "The two passwords differ.");
    return;
  }
  try {
    await api("POST", "/auth/setup", { token, username, password });
    window.location.assign("/profile");
  } catch (error) {
    const messages = {
      403: "This setup link is invalid or has been used already.",
      409: "Setup is done: an account exists already. Log in instead.",
    };
    say("setup-error", messages[error.status] || error.message);
  }
});
