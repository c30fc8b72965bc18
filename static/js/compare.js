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
