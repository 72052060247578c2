// The login page: password first, then the second factor when the account has one (a code
// from the authenticator app, or a recovery code). Goes to the page that sent the user here.
import { api, fields, say } from "./api.js";

const box = document.getElementById("login");
const loginForm = document.getElementById("login-form");
const factorForm = document.getElementById("second-factor-form");
const factorInput = document.getElementById("second-factor");
const recoveryToggle = document.getElementById("use-recovery");
let recovery = false;

/** Same-site paths only (the server checked already; a second look costs nothing). */
function target() {
  const next = box.dataset.next || "";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\")
    ? next : "/containers";
}

function problem(error) {
  if (error.status === 429) {
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : "";
    return `Too many attempts.${wait}`;
  }
  if (error.status === 401) {
    return error.message || "Wrong username or password.";
  }
  return error.message || "The login failed.";
}

function done(result) {
  // An admin may require 2FA: such an account can only enrol until it has a second factor.
  window.location.assign(result?.enrollment_required ? "/profile#two-factor" : target());
}

loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  say("login-error", "");
  const { username, password } = fields(loginForm);
  try {
    const result = await api("POST", "/auth/login", { username, password });
    if (result?.second_factor_required) {
      loginForm.hidden = true;
      factorForm.hidden = false;
      factorInput.focus();
      return;
    }
    done(result);
  } catch (error) {
    say("login-error", problem(error));
  }
});

recoveryToggle.addEventListener("click", () => {
  recovery = !recovery;
  document.getElementById("second-factor-label").textContent =
    recovery ? "Recovery code" : "Authentication code";
  document.getElementById("second-factor-help").textContent = recovery
    ? "Enter one of your recovery codes; each works once."
    : "Enter the 6-digit code from your authenticator app.";
  recoveryToggle.textContent = recovery
    ? "Use an authentication code instead" : "Use a recovery code instead";
  factorInput.inputMode = recovery ? "text" : "numeric";
  factorInput.value = "";
  factorInput.focus();
});

factorForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  say("login-error", "");
  const value = factorInput.value.trim();
  const body = recovery ? { recovery_code: value } : { code: value };
  try {
    done(await api("POST", "/auth/login/second-factor", body));
  } catch (error) {
    if (error.status === 401 && error.code === "unauthenticated") {
      // The pending login expired: start again from the password.
      factorForm.hidden = true;
      loginForm.hidden = false;
    }
    say("login-error", problem(error));
  }
});
