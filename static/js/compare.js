// The compare page: filters apply on change. A row opened while the runs are in flight stays open: the poll sends
// the open rows' ids (hx-include) and the answer marks them hx-preserve (runs/web/compare.py).
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.requestSubmit();
});

// A row opened while the page was still loading, before htmx had bound its request, loads its diff once htmx is
// ready; its "click once" trigger then fires no second request for a row opened since.
htmx.onLoad((root) => {
  const rows = root.matches?.("details.compare-row") ? [root] : root.querySelectorAll?.("details.compare-row") ?? [];
  for (const row of rows) {
    if (row.open && row.querySelector(".compare-diff > .diff-pending")) htmx.trigger(row.querySelector("summary"), "click");
  }
});
