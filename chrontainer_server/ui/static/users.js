// The users page (admins): create accounts, change roles, disable, reset passwords and second
// factors, end sessions, delete; every change through the JSON API.
import { api, el, fields, say, when } from "./api.js";

const ROLES = ["viewer", "operator", "admin"];
const body = document.querySelector("#users tbody");

async function act(action, success) {
  say("users-status", "");
  try {
    await action();
    say("users-status", success);
    await load();
  } catch (error) {
    say("users-status", error.message);
  }
}

function button(label, onClick) {
  const element = el("button", { type: "button", textContent: label });
  element.dataset.action = label;
  element.addEventListener("click", onClick);
  return element;
}

function row(user) {
  const role = el("select", { ariaLabel: `Role of ${user.username}` },
    ...ROLES.map((r) => el("option", { value: r, selected: r === user.role }, r)));
  role.addEventListener("change", () => act(
    () => api("PATCH", `/users/${user.id}`, { role: role.value }),
    `${user.username} is now ${role.value}.`));
  const actions = el("div", { className: "actions" },
    button(user.disabled ? "Enable" : "Disable", () => act(
      () => api("PATCH", `/users/${user.id}`, { disabled: !user.disabled }),
      `${user.username} ${user.disabled ? "enabled" : "disabled"}.`)),
    button("Reset password", () => {
      const password = window.prompt(`New password for ${user.username} (8 characters or more)`);
      if (password) {
        act(() => api("POST", `/users/${user.id}/reset-password`, { password }),
          `Password of ${user.username} reset; their sessions ended.`);
      }
    }),
    button("End sessions", () => act(
      () => api("DELETE", `/users/${user.id}/sessions`),
      `Every session of ${user.username} ended.`)),
    button("Reset 2FA", () => {
      if (window.confirm(`Remove the second factor of ${user.username}?`)) {
        act(() => api("DELETE", `/users/${user.id}/totp`),
          `Two-factor authentication of ${user.username} removed.`);
      }
    }),
    button("Delete", () => {
      if (window.confirm(`Delete ${user.username} with their sessions and API keys?`)) {
        act(() => api("DELETE", `/users/${user.id}`), `${user.username} deleted.`);
      }
    }));
  const tr = el("tr", {},
    el("td", {}, user.username), el("td", {}, role),
    el("td", {}, user.disabled ? "disabled" : "enabled"),
    el("td", {}, user.totp_enabled === undefined ? "" : user.totp_enabled ? "on" : "off"),
    el("td", {}, when(user.created_at)), el("td", {}, actions));
  tr.dataset.username = user.username;
  return tr;
}

async function load() {
  const { items } = await api("GET", "/users");
  body.replaceChildren(...items.map(row));
}

const form = document.getElementById("user-form");
form.addEventListener("submit", (event) => {
  event.preventDefault();
  const { username, password, role } = fields(form);
  act(async () => {
    await api("POST", "/users", { username: username.trim(), password, role });
    form.reset();
  }, `User ${username.trim()} created.`);
});

load().catch((error) => say("users-status", error.message));
