// The profile page: password, two-factor authentication, sessions and API keys, all through
// the JSON API with the session's CSRF token.
import { api, el, fields, say, when } from "./api.js";

function show(id, visible) {
  document.getElementById(id).hidden = !visible;
}

/** Run `action`; show its error (or `success`) in the section's status line. */
async function attempt(statusId, action, success) {
  say(statusId, "");
  try {
    await action();
    if (success) {
      say(statusId, success);
    }
  } catch (error) {
    say(statusId, error.message);
  }
}

// --- password -----------------------------------------------------------------------------

const passwordForm = document.getElementById("password-form");
passwordForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const { current, new: next, new2 } = fields(passwordForm);
  if (next !== new2) {
    say("password-status", "The two new passwords differ.");
    return;
  }
  attempt("password-status", async () => {
    await api("POST", "/me/password", { current, new: next });
    passwordForm.reset();
    await loadSessions();
  }, "Password changed.");
});

// --- two-factor authentication --------------------------------------------------------------

/** Show the 2FA state; resolves to {enabled, required}, or null when it cannot be read. */
async function loadTotp() {
  const state = document.getElementById("totp-state");
  let totp;
  try {
    totp = await api("GET", "/me/totp");
  } catch (error) {
    state.textContent = error.status === 404
      ? "Two-factor authentication is not available on this server yet." : error.message;
    return null;
  }
  state.textContent = totp.enabled
    ? "On: logging in asks for a code from your authenticator app."
    : totp.required
      ? "Required by the administrator: set it up to use Chrontainer."
      : "Off.";
  state.dataset.enabled = String(totp.enabled);
  show("totp-off", !totp.enabled);
  show("totp-on", totp.enabled);
  show("totp-enrolling", false);
  return totp;
}

function showRecoveryCodes(codes) {
  const list = document.getElementById("recovery-codes");
  list.replaceChildren(...codes.map((code) => el("li", {}, code)));
  show("recovery", true);
}

document.getElementById("totp-enroll").addEventListener("click", () =>
  attempt("totp-status", async () => {
    const enrolment = await api("POST", "/me/totp/enroll");
    // The server draws the QR code; a data: URI is allowed by img-src and runs no code.
    document.getElementById("totp-qr").src =
      "data:image/svg+xml;charset=utf-8," + encodeURIComponent(enrolment.qr_svg);
    document.getElementById("totp-secret").textContent = enrolment.secret;
    show("totp-off", false);
    show("totp-enrolling", true);
    document.getElementById("totp-confirm-code").focus();
  }));

function codeForm(id, action) {
  const form = document.getElementById(id);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { code } = fields(form);
    attempt("totp-status", async () => {
      await action(code.trim());
      form.reset();
    });
  });
}

codeForm("totp-confirm-form", async (code) => {
  const result = await api("POST", "/me/totp/confirm", { code });
  showRecoveryCodes(result.recovery_codes);
  await loadTotp();
  say("totp-status", "Two-factor authentication is on.");
  await loadAccount(); // the rest of the page, if enrolment was what held it back
});

codeForm("totp-codes-form", async (code) => {
  const result = await api("POST", "/me/totp/recovery-codes", { code });
  showRecoveryCodes(result.recovery_codes);
});

codeForm("totp-disable-form", async (code) => {
  await api("POST", "/me/totp/disable", { code });
  show("recovery", false);
  await loadTotp();
  say("totp-status", "Two-factor authentication is off.");
});

// --- sessions -------------------------------------------------------------------------------

async function loadSessions() {
  const { items } = await api("GET", "/me/sessions");
  const rows = items.map((s) => {
    const revoke = el("button", { type: "button", textContent: s.current ? "Log out" : "Revoke" });
    revoke.dataset.session = s.id;
    revoke.addEventListener("click", () => attempt("sessions-status", async () => {
      await api("DELETE", `/me/sessions/${s.id}`);
      if (s.current) {
        window.location.assign("/login");
        return;
      }
      await loadSessions();
    }));
    const row = el("tr", {},
      el("td", {}, when(s.created_at), s.current ? el("strong", {}, " (this session)") : ""),
      el("td", {}, when(s.last_seen_at)),
      el("td", { className: "mono" }, s.ip || ""),
      el("td", { className: "muted" }, s.user_agent || ""),
      el("td", {}, revoke));
    if (s.current) {
      row.classList.add("current");
    }
    return row;
  });
  document.querySelector("#sessions tbody").replaceChildren(...rows);
}

// --- API keys -------------------------------------------------------------------------------

async function loadKeys() {
  const { items } = await api("GET", "/me/apikeys");
  const rows = items.map((k) => {
    let action = el("span", { className: "muted" }, `revoked ${when(k.revoked_at)}`);
    if (!k.revoked_at) {
      action = el("button", { type: "button", textContent: "Revoke" });
      action.dataset.key = String(k.id);
      action.addEventListener("click", () => attempt("apikeys-status", async () => {
        await api("DELETE", `/me/apikeys/${k.id}`);
        await loadKeys();
      }, `Key "${k.name}" revoked.`));
    }
    const row = el("tr", {},
      el("td", {}, k.name), el("td", { className: "mono" }, k.prefix),
      el("td", {}, k.role_ceiling), el("td", {}, when(k.created_at)),
      el("td", {}, k.expires_at ? when(k.expires_at) : "never"),
      el("td", {}, when(k.last_used_at)), el("td", {}, action));
    row.dataset.keyName = k.name;
    return row;
  });
  document.querySelector("#apikeys tbody").replaceChildren(...rows);
}

const keyForm = document.getElementById("apikey-form");
keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const { name, role, expires_days: days } = fields(keyForm);
  const body = { name: name.trim() };
  if (role) {
    body.role = role;
  }
  if (days) {
    body.expires_days = Number(days);
  }
  attempt("apikeys-status", async () => {
    const created = await api("POST", "/me/apikeys", body);
    document.getElementById("new-key-secret").textContent = created.secret;
    show("new-key", true);
    keyForm.reset();
    await loadKeys();
  });
});

const ACCOUNT_SECTIONS = ["password-section", "sessions-section", "apikeys-section"];

/** Show and fill the password, sessions and API keys sections. */
async function loadAccount() {
  ACCOUNT_SECTIONS.forEach((id) => show(id, true));
  await Promise.all([attempt("sessions-status", loadSessions),
    attempt("apikeys-status", loadKeys)]);
}

const totp = await loadTotp();
if (totp?.required && !totp.enabled) {
  // Until enrolled, the server answers nothing else for this session: show only the 2FA part.
  ACCOUNT_SECTIONS.forEach((id) => show(id, false));
} else {
  await loadAccount();
}
