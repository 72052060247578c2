// The filter bar of the list pages (containers, images): a GET form whose <select>s apply at
// once, and whose address leaves out the fields that say nothing.

/**
 * Wire the filter `form`: a changed <select> submits it; a submit goes to `path` with only the
 * non-empty fields that are not their default (`isDefault(key, value)`): /images?dangling=yes,
 * not ?host=&repository=&...
 */
export function filterForm(form, path, isDefault = () => false) {
  form.addEventListener("change", (event) => {
    if (event.target.tagName === "SELECT") {
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [key, value] of new FormData(form)) {
      if (value && !isDefault(key, value)) {
        query.append(key, value);
      }
    }
    location.assign(`${path}${query.size ? `?${query}` : ""}`);
  });
}
