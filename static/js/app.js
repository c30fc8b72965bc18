// Reprise page behaviour. No inline scripts anywhere: the CSP forbids them.
(function () {
  "use strict";

  function isTyping(el) {
    if (!el) return false;
    // Escape closes a dialog before focus leaves it: a field of a closed dialog is not being typed in.
    if (el.closest && el.closest("dialog:not([open])")) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function anyDialogOpen() {
    return document.querySelector("dialog[open]") !== null;
  }

  // Toasts are built by the server (templates/_toast.html): messages on a page load, out of band on an
  // htmx answer. Here they only leave after a while.
  function expire(el) {
    setTimeout(function () { el.classList.add("toast-leaving"); }, 7000);
    setTimeout(function () { el.remove(); }, 7600);
  }
  var toasts = document.getElementById("toasts");
  if (toasts) {
    toasts.querySelectorAll(".toast").forEach(expire);
    new MutationObserver(function (changes) {
      changes.forEach(function (change) {
        change.addedNodes.forEach(function (node) {
          if (node.classList && node.classList.contains("toast")) expire(node);
        });
      });
    }).observe(toasts, { childList: true });
  }

  // "Replay these…" replays the runs ticked in the list when any is ticked (the boxes belong to its form): its
  // label says which it will do. Ticks are kept in the tab's sessionStorage, per workspace, so runs ticked on one
  // page stay ticked on the next (and after a filter change or a reload); the form sends those not on this page.
  var BOX = "input[name=run][form=replay-these-form]";
  function tickStore() {
    var form = document.getElementById("replay-these-form");
    return form ? form.dataset.tickStore : null;
  }
  function tickedIds() {
    var key = tickStore();
    try { return key ? JSON.parse(sessionStorage.getItem(key) || "[]") : []; } catch (e) { return []; }
  }
  function keepTicked(ids) {
    var key = tickStore();
    if (!key) return;
    if (ids.length) sessionStorage.setItem(key, JSON.stringify(ids)); else sessionStorage.removeItem(key);
  }
  function showTicks() {
    var button = document.getElementById("replay-these");
    if (!button) return;
    var ids = tickedIds();
    var boxes = document.querySelectorAll(BOX);
    boxes.forEach(function (box) { box.checked = ids.indexOf(box.value) !== -1; });
    var onPage = Array.prototype.filter.call(boxes, function (box) { return box.checked; }).length;
    var all = document.getElementById("tick-page");
    if (all) {
      all.checked = boxes.length > 0 && onPage === boxes.length;
      all.indeterminate = onPage > 0 && onPage < boxes.length;
    }
    if (!button.dataset.filterLabel) button.dataset.filterLabel = button.textContent;
    var n = ids.length;
    button.textContent = n ? "Replay " + n + " ticked run" + (n === 1 ? "" : "s") + "…" : button.dataset.filterLabel;
    var elsewhere = document.getElementById("ticked-elsewhere");
    if (elsewhere) {
      elsewhere.hidden = n === onPage;
      elsewhere.textContent = n - onPage ? "(" + (n - onPage) + " on other pages)" : "";
    }
    var clear = document.getElementById("clear-ticks");
    if (clear) clear.hidden = n === 0;
  }
  document.body.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches) return;
    var page = box.id === "tick-page";
    if (!page && !box.matches(BOX)) return;
    var ids = tickedIds();
    var changed = page ? document.querySelectorAll(BOX) : [box];
    Array.prototype.forEach.call(changed, function (b) {
      var at = ids.indexOf(b.value);
      if (box.checked && at === -1) ids.push(b.value);
      if (!box.checked && at !== -1) ids.splice(at, 1);
    });
    keepTicked(ids);
    showTicks();
  });
  document.addEventListener("click", function (event) {
    if (!event.target.closest("#clear-ticks")) return;
    keepTicked([]);
    showTicks();
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "replay-these-form") return;
    form.querySelectorAll("input.js-ticked-elsewhere").forEach(function (input) { input.remove(); });
    var here = {};
    document.querySelectorAll(BOX).forEach(function (box) { here[box.value] = true; });
    tickedIds().forEach(function (id) {
      if (here[id]) return;  // a box of this page is sent by the form it names
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "run";
      input.value = id;
      input.className = "js-ticked-elsewhere";
      form.appendChild(input);
    });
  });
  document.body.addEventListener("htmx:afterSettle", showTicks);
  window.addEventListener("pageshow", showTicks);
  showTicks();

  document.body.addEventListener("replaySubmitted", function () {
    var modal = document.getElementById("modal");
    if (modal && modal.open) modal.close();
  });

  document.body.addEventListener("mappingSaved", function () {
    var modal = document.getElementById("mapping-modal");
    if (modal && modal.open) modal.close();
  });

  // Once the mapping section (and Start from) follow a version change, the plan follows them. Asked from here,
  // not by a trigger on the panel: a panel swapped in a moment before has no bound triggers until it settles, and
  // the refresh was lost. Issued from the panel, its hx-sync (this:replace) aborts an older plan still in flight.
  document.body.addEventListener("mappingChecked", function () { refreshPlan(); });

  // Dialogs: htmx swaps content into an empty <dialog>; we open it natively (focus trap, Escape).
  // Only once settled: htmx binds the content's triggers then, and a change made before is lost.
  document.body.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (target && target.tagName === "DIALOG" && !target.open) {
      target.showModal();
      // The first field in reading order; of a radio group, its checked option.
      var first = target.querySelector(
        "input[type=radio]:checked:not([disabled]), input:not([type=hidden]):not([type=radio]):not([disabled])," +
        " select:not([disabled]), textarea:not([disabled])");
      if (first) first.focus();
      placeToasts();
    }
  });
  // Submit replay waits while the plan it will send is being computed: what was shown is what runs.
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt.id !== "plan-panel") return;
    var submit = document.getElementById("submit-replay");
    if (submit) submit.disabled = true;
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt.id === "plan-panel" && !event.detail.successful) refreshReplayForm(event.detail.elt);
  });
  document.body.addEventListener("htmx:load", function (event) {
    refreshReplayForm(event.detail.elt);
    refreshMappingForm(event.detail.elt);
  });
  // The htmx dialogs empty on close (the toasts they hold leave first: see "Dialogs: focus, Escape, toasts" below).
  document.querySelectorAll("dialog.modal").forEach(function (d) {
    d.addEventListener("close", function () { placeToasts(); d.replaceChildren(); });
  });

  document.addEventListener("click", function (event) {
    var close = event.target.closest(".js-close-dialog");
    if (close) {
      var dialog = close.closest("dialog");
      if (dialog) closeUnlessDiscarding(dialog);
    }
  });

  // The r shortcut belongs to the Replay button; ignored while typing or when a dialog is open.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "r" || event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (isTyping(document.activeElement) || anyDialogOpen()) return;
    var button = document.getElementById("replay-button");
    // An unfinished run's button is aria-disabled: focusable, so its reason can be read, but inert.
    if (!button || button.disabled || button.getAttribute("aria-disabled") === "true") return;
    event.preventDefault();
    button.click();
  });

  // The trigger payload editor: JSON checked as you type (the error names line and column), and a reset.
  function payloadError(text) {
    try {
      var value = JSON.parse(text);
      if (value === null || typeof value !== "object" || Array.isArray(value)) return "The trigger payload must be a JSON object.";
      return "";
    } catch (error) {
      var match = /position (\d+)/.exec(error.message);
      var at = match ? parseInt(match[1], 10) : text.length;
      var before = text.slice(0, at).split("\n");
      return "Not valid JSON at line " + before.length + ", column " + (before[before.length - 1].length + 1) + ": " + error.message;
    }
  }
  function checkPayload(textarea) {
    var message = payloadError(textarea.value);
    var out = document.getElementById("payload-error");
    if (out) out.textContent = message;
    textarea.setAttribute("aria-invalid", message ? "true" : "false");
    return !message;
  }
  document.addEventListener("input", function (event) {
    if (event.target.id === "trigger_payload") checkPayload(event.target);
  });
  document.addEventListener("click", function (event) {
    var reset = event.target.closest(".js-reset-payload");
    var textarea = document.getElementById("trigger_payload");
    if (!reset || !textarea) return;
    textarea.value = textarea.dataset.original;
    checkPayload(textarea);
    refreshReplayForm(textarea);
  });

  // "Rerun from here" on a step opens the Replay dialog with that start node.
  function openReplayDialog(query, opener) {
    var replay = document.getElementById("replay-button");
    if (!replay || replay.getAttribute("aria-disabled") === "true" || !window.htmx) return false;
    rememberOpener(document.getElementById("modal"), opener); // focus comes back to it when the dialog closes
    window.htmx.ajax("GET", replay.getAttribute("hx-get") + "?" + query, { target: "#modal", swap: "innerHTML" });
    return true;
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".js-rerun-from");
    if (button && openReplayDialog("from_node=" + encodeURIComponent(button.dataset.node), button)) event.preventDefault();
  });

  // c on a replay's trace opens the comparison with its original, with the same rules as r.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "c" || event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (isTyping(document.activeElement) || anyDialogOpen()) return;
    var link = document.getElementById("compare-link");
    if (!link) return;
    event.preventDefault();
    link.click();
  });

  // Replay form (and the cohort form, which shares its fields): show the chosen mode's fields; Submit replay (Create
  // cohort) only when they are all filled and every renamed node is mapped.
  function refreshReplayForm(root) {
    var form = (root && root.closest && root.closest("#replay-form, #cohort-form")) ||
      document.getElementById("replay-form") || document.getElementById("cohort-form");
    if (!form) return;
    var checked = form.querySelector("input[name=mode]:checked");
    var mode = checked ? checked.value : "as_is";
    var ready = true;
    form.querySelectorAll(".mode-fields").forEach(function (box) {
      var active = box.dataset.mode === mode;
      box.hidden = !active;
      box.querySelectorAll("input").forEach(function (input) {
        input.disabled = !active;
        if (active && input.value.trim() === "") ready = false;
      });
    });
    form.querySelectorAll(".mode-extra").forEach(function (box) { box.hidden = box.dataset.mode !== mode; });
    var mapping = form.querySelector("#mapping-section");
    if (mapping && parseInt(mapping.dataset.unmapped || "0", 10) > 0) ready = false;
    // A plan that really invokes mutating calls needs its confirmation ticked first.
    var confirm = form.querySelector("input[name=confirm_invoke]");
    if (confirm && !confirm.checked) ready = false;
    var payload = form.querySelector("#trigger_payload");
    if (payload && payloadError(payload.value)) ready = false;
    if (planBlocksSubmit(form)) ready = false;
    var submit = form.querySelector("#submit-replay, #create-cohort");
    if (submit && !form.classList.contains("htmx-request")) submit.disabled = !ready;
  }
  // "Write a new revision…": a saved revision fills both prompt fields, as if typed, so the plan and Submit follow.
  document.body.addEventListener("revisionSaved", function (e) {
    var artifact = document.getElementById("prompt_artifact_id");
    var hash = document.getElementById("content_hash");
    if (!artifact || !hash) return;
    artifact.value = e.detail.artifact_id;
    hash.value = e.detail.content_hash;
    // The hash suggestions were rendered with the dialog: a revision saved since joins them, once.
    var suggestions = document.getElementById("hash-suggestions");
    if (suggestions && !Array.prototype.some.call(suggestions.options, function (o) { return o.value === e.detail.content_hash; })) {
      var option = document.createElement("option");
      option.value = e.detail.content_hash;
      option.textContent = e.detail.artifact_id + " · saved just now";
      suggestions.appendChild(option);
    }
    hash.dispatchEvent(new Event("input", { bubbles: true }));
  });
  document.addEventListener("click", function (e) {
    if (!e.target.closest(".js-close-revision-writer")) return;
    var writer = document.getElementById("revision-writer");
    if (writer) writer.innerHTML = "";
    var opener = document.getElementById("write-revision");
    if (opener) opener.focus();
  });
  document.addEventListener("change", function (e) {
    // Another version uses other prompts: the open writer would edit the wrong one.
    var writer = document.getElementById("revision-writer");
    if (e.target.id === "target_version" && writer) writer.innerHTML = "";
  });
  document.addEventListener("input", function (e) { if (e.target.closest("#replay-form, #cohort-form")) refreshReplayForm(e.target); });
  document.addEventListener("change", function (e) { if (e.target.closest("#replay-form, #cohort-form")) refreshReplayForm(e.target); });
  document.body.addEventListener("htmx:afterSettle", function () {
    refreshReplayForm(null);
    refreshMappingForm(null);
    rescaleTimeline();
  });

  // Replay dialog, what the plan says (issue 28): Submit waits when the plan shows a refusal or a node that will
  // fail (the panel's data-blocked, its words beside Submit); the hash suggestions follow the artifact typed; the
  // allowed-models select fills the model id and ref together; a prompt's "Replay with another revision" opens
  // the dialog in prompt mode with its artifact.
  // The plan follows every field from listeners on the document, never from triggers bound to the panel: a panel
  // swapped in a moment before binds its triggers only once settled, and a start node picked or a field typed in
  // between was never planned (seen in a browser). The panel's hx-sync replaces a plan still in flight.
  var replanTimer = null;
  function refreshPlan() {
    clearTimeout(replanTimer);
    var panel = document.getElementById("plan-panel");
    if (!panel || !window.htmx) return;
    var asked = window.htmx.ajax("POST", panel.dataset.planUrl, { source: panel, target: panel, swap: "outerHTML" });
    if (asked && asked.catch) asked.catch(function () {});  // a plan replaced by a newer one is no error
  }
  function refreshPlanSoon() {
    clearTimeout(replanTimer);
    replanTimer = setTimeout(refreshPlan, 500);
  }
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.id === "from_node" || (t.closest && t.closest("#replay-form .modes, #replay-form .tool-calls"))) refreshPlan();
  });
  document.addEventListener("input", function (e) {
    var t = e.target;
    if (t.id === "trigger_payload" || (t.tagName === "INPUT" && t.closest && t.closest("#replay-form .mode-fields"))) {
      refreshPlanSoon();
    }
  });
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("#replay-form .js-reset-payload")) refreshPlan();
  });
  function planBlocksSubmit(form) {
    var panel = form.querySelector("[data-blocked]");  // the dialog's plan panel, the cohort form's preview
    return !!(panel && panel.dataset.blocked);
  }
  function filterHashSuggestions() {
    var artifact = document.getElementById("prompt_artifact_id");
    var list = document.getElementById("hash-suggestions");
    if (!artifact || !list) return;
    var typed = artifact.value.trim();
    Array.prototype.forEach.call(list.options, function (o) {
      o.disabled = typed !== "" && !!o.dataset.artifact && o.dataset.artifact !== typed;
    });
  }
  document.addEventListener("input", function (e) {
    if (e.target.id === "prompt_artifact_id") filterHashSuggestions();
  });
  document.addEventListener("change", function (e) {
    if (!e.target.classList || !e.target.classList.contains("js-model-pick")) return;
    var option = e.target.selectedOptions[0];
    var id = document.getElementById("model_id");
    var ref = document.getElementById("model_ref");
    if (!option || !option.value || !id || !ref) return;
    id.value = option.dataset.modelId;
    ref.value = option.value;
    ref.dispatchEvent(new Event("input", { bubbles: true }));
  });
  document.addEventListener("input", function (e) {
    if (e.target.id !== "model_id" && e.target.id !== "model_ref") return;
    var pick = document.getElementById("model_pick");
    var ref = document.getElementById("model_ref");
    if (!pick || !ref) return;
    var match = Array.prototype.some.call(pick.options, function (o) { return o.value && o.value === ref.value.trim(); });
    pick.value = match ? ref.value.trim() : "";
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest(".js-replay-prompt");
    if (link && openReplayDialog("mode=prompt&prompt_artifact_id=" + encodeURIComponent(link.dataset.artifact), link)) {
      event.preventDefault();
    }
  });

  // Live trace: bars are laid out in milliseconds from the run's start, and only the polled header
  // knows how long the run has lasted so far; every row's viewBox follows it.
  function rescaleTimeline() {
    var live = document.getElementById("trace-live");
    if (!live || !live.dataset.totalMs) return;
    var box = "0 0 " + live.dataset.totalMs + " 10";
    document.querySelectorAll("#trace-steps svg.bar-track").forEach(function (svg) {
      if (svg.getAttribute("viewBox") !== box) svg.setAttribute("viewBox", box);
    });
  }

  // Mapping dialog: options are filled from one JSON list (data-targets) when a select is first used,
  // so hundreds of renamed nodes do not mean hundreds of thousands of <option>s in the HTML.
  function targets() {
    var form = document.getElementById("mapping-form");
    return form && form.dataset.targets ? JSON.parse(form.dataset.targets) : [];
  }
  function chosenElsewhere(select) {
    var chosen = {};
    document.querySelectorAll("#mapping-form .js-mapping-select").forEach(function (other) {
      if (other !== select && other.value) chosen[other.value] = true;
    });
    return chosen;
  }
  function fillOptions(select) {
    var current = select.value;
    var taken = chosenElsewhere(select);
    var frag = document.createDocumentFragment();
    var pick = document.createElement("option");
    pick.value = "";
    pick.textContent = "Pick target";
    frag.appendChild(pick);
    // Suggested targets first, with their confidence (issue 32); then every other node of the target version.
    var suggested = select.dataset.candidates ? JSON.parse(select.dataset.candidates) : [];
    var first = {};
    function option(id, label) {
      var opt = document.createElement("option");
      opt.value = id;
      opt.textContent = taken[id] ? label + " (already chosen)" : label;
      if (taken[id]) opt.className = "taken";
      if (id === current) opt.selected = true;
      return opt;
    }
    suggested.forEach(function (c) {
      first[c[0]] = true;
      frag.appendChild(option(c[0], c[0] + " (" + c[1] + " %)"));
    });
    var rest = suggested.length ? document.createElement("optgroup") : frag;
    if (suggested.length) rest.label = "Other nodes";
    targets().forEach(function (id) {
      if (!first[id]) rest.appendChild(option(id, id));
    });
    if (rest !== frag) frag.appendChild(rest);
    select.replaceChildren(frag);
  }
  document.addEventListener("focusin", function (e) {
    if (e.target.classList && e.target.classList.contains("js-mapping-select")) fillOptions(e.target);
  });
  document.addEventListener("mousedown", function (e) {
    if (e.target.classList && e.target.classList.contains("js-mapping-select")) fillOptions(e.target);
  });
  var EAGER_FILL_LIMIT = 50;
  function refreshMappingForm() {
    var form = document.getElementById("mapping-form");
    if (!form) return;
    var selects = form.querySelectorAll(".js-mapping-select");
    if (selects.length <= EAGER_FILL_LIMIT && !form.dataset.filled) {
      form.dataset.filled = "1";
      selects.forEach(fillOptions);
    }
    var done = Array.prototype.every.call(selects, function (s) { return s.value !== ""; });
    var save = form.querySelector("#save-mapping");
    if (save && !form.classList.contains("htmx-request")) save.disabled = !done || selects.length === 0;
  }
  document.addEventListener("change", function (e) { if (e.target.closest("#mapping-form")) refreshMappingForm(); });
  document.addEventListener("input", function (e) {
    if (!e.target.classList || !e.target.classList.contains("js-mapping-filter")) return;
    var needle = e.target.value.trim().toLowerCase();
    document.querySelectorAll("#mapping-form .mapping-row").forEach(function (row) {
      row.hidden = needle !== "" && row.dataset.node.toLowerCase().indexOf(needle) === -1;
    });
  });

  // Small conveniences that would otherwise need inline handlers.
  document.addEventListener("change", function (e) {
    if (e.target.classList.contains("js-workspace-switcher")) window.location = e.target.value;
    if (e.target.classList.contains("js-autosubmit")) e.target.form.submit();
  });

  // ---- Dialogs: focus, Escape, toasts (issue 28, item 13) ----
  // A dialog hands the focus back to what opened it when it closes (Submit, Save mapping, Cancel, Escape). An
  // opener that a swap replaced meanwhile (Resolve mapping becomes Edit mapping) is found again by its id.
  var openers = new WeakMap();
  var refocusId = null;
  function rememberOpener(dialog, element) {
    if (dialog && element && element !== document.body) openers.set(dialog, element);
  }
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (!target || target.tagName !== "DIALOG" || target.open || openers.has(target)) return;
    var elt = event.detail.elt;
    rememberOpener(target, elt === document.body ? document.activeElement : elt);
  });
  function focusBack(dialog) {
    var opener = openers.get(dialog);
    openers.delete(dialog);
    if (!opener) return;
    var el = opener.isConnected ? opener : (opener.id && document.getElementById(opener.id));
    if (el) el.focus();
    refocusId = opener.id || null;
  }
  document.addEventListener("focusin", function (event) {
    if (event.target !== document.body && !event.target.matches("[id='" + refocusId + "']")) refocusId = null;
  });
  // Whatever the person does next is theirs: a later poll never pulls the focus back.
  ["pointerdown", "keydown"].forEach(function (type) {
    document.addEventListener(type, function () { refocusId = null; }, true);
  });
  document.querySelectorAll("dialog").forEach(function (d) {
    d.addEventListener("close", function () { focusBack(d); });
  });
  document.body.addEventListener("htmx:afterSettle", function (event) {
    var lost = !document.activeElement || document.activeElement === document.body;
    if (!lost) return;
    if (refocusId && document.getElementById(refocusId)) {
      document.getElementById(refocusId).focus();
      return;
    }
    // A failed submit re-renders its form: the keyboard lands on the reason, inside the dialog that stays open.
    var form = event.detail.target;
    if (!form || (form.id !== "replay-form" && form.id !== "mapping-form")) return;
    var error = document.querySelector("dialog[open] #" + form.id + " .alert-error");
    if (error) {
      error.setAttribute("tabindex", "-1");
      error.focus();
    }
  });

  // Toasts are shown inside the topmost open dialog: a modal <dialog> sits in the top layer, above any z-index,
  // and makes the rest of the page inert (a toast behind its backdrop is neither seen nor announced).
  function placeToasts() {
    var box = document.getElementById("toasts");
    if (!box) return;
    var open = document.querySelectorAll("dialog[open]");
    var home = open.length ? open[open.length - 1] : document.body;
    if (box.parentNode !== home) home.appendChild(box);
  }

  // Confirmations in a dialog of the page (templates/base.html #confirm), not window.confirm.
  var confirmed = null;
  function askFirst(options, then) {
    var dialog = document.getElementById("confirm");
    if (!dialog) { then(); return; }
    document.getElementById("confirm-title").textContent = options.title;
    document.getElementById("confirm-text").textContent = options.text;
    document.getElementById("confirm-no").textContent = options.no;
    var yes = document.getElementById("confirm-yes");
    yes.textContent = options.yes;
    yes.className = options.danger ? "danger" : "primary";
    dialog.returnValue = "";
    confirmed = then;
    rememberOpener(dialog, document.activeElement);
    dialog.showModal();
    placeToasts();
  }
  var confirmDialog = document.getElementById("confirm");
  if (confirmDialog) {
    confirmDialog.addEventListener("close", function () {
      var then = confirmed;
      confirmed = null;
      placeToasts();
      if (confirmDialog.returnValue === "yes" && then) then();
    });
  }

  // Escape, Cancel and × ask before they throw away an edited payload or typed fields of the Replay dialog.
  function discardable(dialog) {
    if (dialog.id !== "modal" || !dialog.dataset.typed) return false;
    var payload = dialog.querySelector("#trigger_payload");
    if (payload && payload.value !== payload.dataset.original) return true;
    return Array.prototype.some.call(dialog.querySelectorAll("input[type=text], input:not([type]), textarea"), function (el) {
      return el !== payload && !el.disabled && el.value.trim() !== "";
    });
  }
  function closeUnlessDiscarding(dialog) {
    if (!discardable(dialog)) { dialog.close(); return; }
    askFirst({
      title: "Discard your changes?",
      text: "The trigger payload you edited and the fields you typed are lost when the dialog closes.",
      no: "Keep editing",
      yes: "Discard",
      danger: true
    }, function () { dialog.close(); });
  }
  var replayModal = document.getElementById("modal");
  if (replayModal) {
    replayModal.addEventListener("cancel", function (event) {
      if (!discardable(replayModal)) return;
      event.preventDefault();
      closeUnlessDiscarding(replayModal);
    });
    replayModal.addEventListener("input", function (event) {
      if (event.target.matches("textarea, input[type=text], input:not([type])")) replayModal.dataset.typed = "1";
    });
    replayModal.addEventListener("close", function () { delete replayModal.dataset.typed; });
  }

  // ---- Replay dialog: a required confirmation is never out of sight (issue 28, item 14) ----
  // The plan panel scrolls; the footer with Submit does not. Beside Submit, a link to the unticked confirmation.
  function refreshConfirmHint() {
    var hint = document.getElementById("confirm-hint");
    if (!hint) return;
    var box = document.querySelector("#replay-form input[name=confirm_invoke]");
    hint.hidden = !box || box.checked;
  }
  document.addEventListener("click", function (event) {
    if (!event.target.closest("#confirm-hint")) return;
    var box = document.querySelector("#replay-form input[name=confirm_invoke]");
    if (!box) return;
    box.scrollIntoView({ block: "center" });
    box.focus();
  });
  document.addEventListener("change", function (event) { if (event.target.name === "confirm_invoke") refreshConfirmHint(); });
  document.body.addEventListener("htmx:afterSettle", refreshConfirmHint);

  // ---- Destructive buttons ask first: monitoring's Cancel (issue 28, item 17), a cohort's Cancel cohort ----
  // The button's template holds the words (data-confirm-title, -text, -no, -yes). Without JavaScript the button
  // submits at once; with it, the form is sent only on the "yes". The poll may have replaced the button while the
  // question was open: the form sent is the one on the page then.
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".js-confirm");
    if (!button) return;
    event.preventDefault();
    askFirst({
      title: button.dataset.confirmTitle,
      text: button.dataset.confirmText,
      no: button.dataset.confirmNo,
      yes: button.dataset.confirmYes,
      danger: true
    }, function () {
      var current = document.getElementById(button.id);
      if (current && current.form) current.form.requestSubmit();
    });
  });

  // ---- Runs list: the filters say what the rows are, after Back too (issue 28, item 19) ----
  // htmx's history snapshot keeps the markup the page was rendered with, not the values chosen since, and the
  // browser may restore a form's old state: on Back the selects read "All" over filtered rows. The URL is the
  // truth, as the server read it.
  function filtersFromUrl() {
    var params = new URLSearchParams(window.location.search);
    document.querySelectorAll("form.filters").forEach(function (form) {
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.name && (el.tagName === "SELECT" || el.tagName === "INPUT")) el.value = params.get(el.name) || "";
      });
    });
  }
  document.body.addEventListener("htmx:historyRestore", filtersFromUrl);
  window.addEventListener("pageshow", filtersFromUrl);

  // ---- The cohort form (issue 31): its preview and banner follow each change of a field ----
  // A version change is followed by the mapping section first (its mappingChecked asks the preview then, with the
  // version's mapping); the allowed-models select has filled both model fields by the time this listener runs.
  function refreshCohort() {
    if (document.getElementById("cohort-form") && window.htmx) window.htmx.trigger(document.body, "cohortChanged");
  }
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!t.closest || !t.closest("#cohort-form") || t.id === "target_version") return;
    if (t.closest("#cohort-check-add")) return; // a check being described changes nothing until it is added
    refreshCohort();
  });
  // Enter in the small check form adds the check, as the compare page's own form does, never creates the cohort.
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.key !== "Enter" || !t.closest || !t.closest("#cohort-check-add")) return;
    if (t.tagName === "TEXTAREA" || t.tagName === "BUTTON") return;
    e.preventDefault();
    var add = document.getElementById("cohort-check-add-button");
    if (add) add.click();
  });
  document.body.addEventListener("revisionSaved", refreshCohort);

  // ---- The check forms (the compare page's, the cohort form's): the kind picked says what Value and JSON pointer
  // hold, as their placeholders ----
  function showCheckHints(select) {
    var option = select.selectedOptions[0];
    var box = select.closest(".check-add");
    if (!option || !box) return;
    var value = box.querySelector("[name=value], [name=check_value]");
    var path = box.querySelector("[name=path], [name=check_path]");
    if (value) value.placeholder = option.dataset.valueHint || "";
    if (path) path.placeholder = option.dataset.pathHint || "";
  }
  function showAllCheckHints(root) {
    (root || document).querySelectorAll("[data-check-kind]").forEach(showCheckHints);
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("[data-check-kind]")) showCheckHints(e.target);
  });
  showAllCheckHints();
  document.body.addEventListener("htmx:afterSwap", function (e) { showAllCheckHints(e.target); });
})();
