// The top bar's groups (<details class="nav-group">): a disclosure opens and closes without
// script; this only closes an open one the way a menu does — on Escape (focus back to its
// summary), on a click elsewhere, and when focus leaves it.
const groups = [...document.querySelectorAll(".nav-group details")];

function closeAll(except) {
  for (const group of groups) {
    if (group !== except) {
      group.open = false;
    }
  }
}

document.addEventListener("keydown", (event) => {
  const open = groups.find((g) => g.open);
  if (event.key === "Escape" && open) {
    open.open = false;
    open.querySelector("summary").focus();
  }
});
document.addEventListener("click", (event) => closeAll(event.target.closest?.(".nav-group details")));
document.addEventListener("focusin", (event) => closeAll(event.target.closest?.(".nav-group details")));
