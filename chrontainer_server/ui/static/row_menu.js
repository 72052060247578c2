// The row actions menu of the list pages (containers, images): one menu element, kept hidden in
// its home, moves next to the pressed row's Actions button (aria-expanded on the button, focus
// into the menu) and goes back home when it closes. It closes on Escape and on a click elsewhere
// (and, if asked, when focus moves elsewhere).

/**
 * Wire the shared menu. `menu` may be null (viewers have no actions): the functions do nothing.
 * Options: `prepare(row)` fits the menu's items to the row before it shows; `focus`, the
 * selector of the item that takes the focus; `closeOnFocusOut`, close when focus leaves.
 * Returns { open(button), close(focusButton), across(swap) }; open on the menu's own button
 * closes it. across(swap) runs `swap` (which replaces the rows, e.g. a live refresh): a menu
 * open on a row is open again on the fresh row with the same id, so a refresh arriving while
 * someone picks an action does not take the menu away from under them.
 */
export function rowMenu(menu, home, { prepare, focus = "a, button", closeOnFocusOut = false } = {}) {
  function close(focusButton) {
    if (!menu || menu.hidden) {
      return;
    }
    const button = menu.previousElementSibling;
    menu.hidden = true;
    button?.setAttribute("aria-expanded", "false");
    home.append(menu);
    if (focusButton) {
      button?.focus();
    }
  }

  function open(button) {
    const wasOpen = !menu.hidden && menu.previousElementSibling === button;
    close(wasOpen);
    if (wasOpen) {
      return;
    }
    prepare?.(button.closest("tr.row"));
    button.after(menu);
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    menu.querySelector(focus)?.focus();
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu && !menu.hidden) {
      close(true);
    }
  });
  if (closeOnFocusOut) {
    document.addEventListener("focusin", (event) => {
      if (menu && !menu.hidden && !menu.contains(event.target) && event.target !== menu.previousElementSibling) {
        close(false);
      }
    });
  }
  document.addEventListener("click", (event) => {
    if (menu && !menu.hidden && !menu.contains(event.target) && !event.target.closest?.(".menu-button")) {
      close(false);
    }
  });
  function across(swap) {
    const rowId = menu && !menu.hidden ? menu.closest("tr.row")?.id : null;
    close(false);
    swap();
    const button = rowId ? document.getElementById(rowId)?.querySelector(".menu-button") : null;
    if (button) {
      open(button);
    }
  }

  return { open, close, across };
}
