// Light/dark theme: follows the system (prefers-color-scheme) until the user picks one with
// the toggle; the choice is kept in localStorage and applied as <html data-theme="...">, which
// the stylesheet reads. An external module, because the CSP forbids inline scripts.

const KEY = "chrontainer.theme";
const root = document.documentElement;
const dark = window.matchMedia("(prefers-color-scheme: dark)");

function stored() {
  try {
    const value = localStorage.getItem(KEY);
    return value === "light" || value === "dark" ? value : null;
  } catch {
    return null; // storage disabled (privacy mode): follow the system
  }
}

function effective() {
  return root.dataset.theme || (dark.matches ? "dark" : "light");
}

function apply(theme) {
  if (theme) {
    root.dataset.theme = theme;
  } else {
    delete root.dataset.theme;
  }
  const button = document.getElementById("theme-toggle");
  if (button) {
    const next = effective() === "dark" ? "light" : "dark";
    button.setAttribute("aria-pressed", String(effective() === "dark"));
    button.textContent = next === "dark" ? "Dark" : "Light";
    button.title = `Switch to the ${next} theme`;
  }
}

function toggle() {
  const next = effective() === "dark" ? "light" : "dark";
  try {
    localStorage.setItem(KEY, next);
  } catch {
    // not persisted, still applied for this page
  }
  apply(next);
}

apply(stored());
document.getElementById("theme-toggle")?.addEventListener("click", toggle);
// The label names the other theme, so it must follow a system change too.
dark.addEventListener("change", () => apply(stored()));
