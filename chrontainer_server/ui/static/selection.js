// Multi-select on the list pages (containers, images): every row has a .pick checkbox, the
// table head a #select-all one, and the bulk bar (#bulk, absent for viewers) shows while any
// row is picked, with "<n> selected" in #bulk-count and a #bulk-clear button.

/**
 * Selection over the rows matching `rows` in the list region `region()` (a function: pages swap
 * the region for a fresh one). `bar` is the bulk bar, or null. Changes of the checkboxes and
 * the #bulk-clear button are handled by listeners delegated to `root`.
 */
export function rowSelection(root, region, bar, rows = "tr.row") {
  /** The picked rows. */
  function selected() {
    return [...region().querySelectorAll(rows)].filter((row) => row.querySelector(".pick")?.checked);
  }

  /** Show the bulk bar and its count, and set #select-all to all, some or none. */
  function update() {
    if (!bar) {
      return;
    }
    const picks = [...region().querySelectorAll(`${rows} .pick`)];
    const count = picks.filter((p) => p.checked).length;
    bar.hidden = count === 0;
    document.getElementById("bulk-count").textContent = `${count} selected`;
    const all = region().querySelector("#select-all");
    if (all) {
      all.checked = count > 0 && count === picks.length;
      all.indeterminate = count > 0 && count < picks.length;
    }
  }

  /** Pick (or unpick) every row. */
  function pickAll(checked) {
    for (const pick of region().querySelectorAll(`${rows} .pick`)) {
      pick.checked = checked;
    }
    update();
  }

  /** Unpick every row. */
  function clear() {
    for (const pick of region().querySelectorAll(".pick:checked")) {
      pick.checked = false;
    }
    update();
  }

  /** Pick again the rows of `ids` (after the region was swapped). */
  function restore(ids) {
    for (const id of ids) {
      const pick = document.getElementById(id)?.querySelector(".pick");
      if (pick) {
        pick.checked = true;
      }
    }
  }

  root.addEventListener("change", (event) => {
    if (event.target.id === "select-all") {
      pickAll(event.target.checked);
    } else if (event.target.classList.contains("pick")) {
      update();
    }
  });
  root.addEventListener("click", (event) => {
    if (event.target.closest?.("#bulk-clear")) {
      clear();
    }
  });
  return { selected, update, restore };
}
