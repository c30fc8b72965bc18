// The compare page: filters apply on change. A row opened while the runs are in flight stays open: the poll sends
// the open rows' ids (hx-include) and the answer marks them hx-preserve (runs/web/compare.py).
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.requestSubmit();
});

// The Checks form: the kind picked says what Value and JSON pointer hold, as their placeholders.
function showCheckHints(select) {
  const option = select.selectedOptions[0];
  if (!option || !select.form) return;
  select.form.querySelector("[name=value]").placeholder = option.dataset.valueHint || "";
  select.form.querySelector("[name=path]").placeholder = option.dataset.pathHint || "";
}
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-check-kind]")) showCheckHints(event.target);
});
document.querySelectorAll("[data-check-kind]").forEach(showCheckHints);
