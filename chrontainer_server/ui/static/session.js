// The session on every page: htmx requests carry the CSRF token, and the Log out button.
// The token comes from <meta name="csrf-token"> (the CSP forbids inline scripts, and hx-headers
// on <body> set here covers every htmx form at once).
import { api } from "./api.js";

const token = document.querySelector('meta[name="csrf-token"]')?.content;
if (token) {
  document.body.setAttribute("hx-headers", JSON.stringify({ "X-CSRF-Token": token }));
}

document.getElementById("logout")?.addEventListener("click", async () => {
  try {
    await api("POST", "/auth/logout");
  } finally {
    // Even if the session had already ended, the login form is where to go.
    window.location.assign("/login");
  }
});
