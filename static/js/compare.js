// The compare page: filters apply on change, and a row opened while the runs are in flight stays open
// (hx-preserve keeps it through the next poll's swap).
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.requestSubmit();
});
document.addEventListener(
  "toggle",
  (event) => {
    const row = event.target;
    if (!(row instanceof HTMLDetailsElement) || !row.classList.contains("compare-row")) return;
    if (row.open) row.setAttribute("hx-preserve", "true");
    else row.removeAttribute("hx-preserve");
  },
  true,
);

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
