// The compare page: filters apply on change. A row opened while the runs are in flight stays open: the poll sends
// the open rows' ids (hx-include) and the answer marks them hx-preserve (runs/web/compare.py).
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.requestSubmit();
});
