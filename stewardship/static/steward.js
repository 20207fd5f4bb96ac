// Keyboard shortcuts and confirmations for the steward page. No framework, no network.
(function () {
  "use strict";
  function typing(e) {
    var t = e.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }
  function byKey(key) { return document.querySelector('[data-key="' + key + '"]'); }
  function press(el) {
    if (!el) return false;
    if (el.tagName === "BUTTON") { el.form.requestSubmit(el); } else { window.location.href = el.href; }
    return true;
  }

  // Queue: j/k move the selection, Enter opens it.
  var rows = Array.prototype.slice.call(document.querySelectorAll("[data-rows] tbody tr"));
  var at = rows.length ? 0 : -1;
  function select(i) {
    if (!rows.length) return;
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, j) { r.classList.toggle("selected", j === at); });
    rows[at].scrollIntoView({ block: "nearest" });
  }
  if (rows.length) select(0);

  // `?` shows every key (the dialog is in _keys.html); `?` again or Esc closes it.
  var help = document.getElementById("keys-help");
  function toggleHelp() {
    if (!help) return false;
    if (help.open) { help.close(); } else { help.showModal(); }
    return true;
  }

  // Compare: an unclear candidate in three actions. Shift+N (or Shift+M) chooses the
  // decision and opens the reason field, the steward types, Ctrl+Enter decides. Enter alone
  // in the field never decides (issue 16, bug 1): the form's first submit button is disabled.
  var decideForm = document.querySelector("[data-decide]");
  var reasonField = decideForm && decideForm.querySelector("input[name=reason]");
  var chosenHint = decideForm && decideForm.querySelector("[data-chosen-hint]");
  function choose(key) {
    var button = byKey(key);
    if (!reasonField || !button) return false;
    decideForm.dataset.chosen = key;
    decideForm.querySelectorAll("button[data-key]").forEach(function (b) {
      b.classList.toggle("chosen", b === button);
      b.setAttribute("aria-pressed", b === button ? "true" : "false");
    });
    if (chosenHint) chosenHint.textContent = "Ctrl+Enter: " + button.dataset.label;
    reasonField.focus();
    return true;
  }
  if (reasonField) {
    reasonField.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { reasonField.blur(); e.preventDefault(); return; }
      if (e.key !== "Enter") return;
      e.preventDefault();  // Enter alone: nothing; Ctrl+Enter: the chosen decision
      if (!(e.ctrlKey || e.metaKey)) return;
      if (decideForm.dataset.chosen) { press(byKey(decideForm.dataset.chosen)); }
      else if (chosenHint) { chosenHint.textContent = "choose first: Esc, then Shift+M or Shift+N"; }
    });
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    var done = false;
    if (e.key === "?") { done = toggleHelp(); }
    else if (help && help.open) { return; }
    else if (e.key === "u") { done = press(byKey("u")); }  // undo, while the flash offers it
    else if (rows.length) {
      if (e.key === "j") { select(at + 1); done = true; }
      else if (e.key === "k") { select(at - 1); done = true; }
      else if (e.key === "Enter") { window.location.href = rows[at].dataset.href; done = true; }
      else if (e.key === "c") { done = press(rows[at].querySelector("[data-claim], [data-release]")); }
      else if (e.key === "]") { done = press(byKey("next-page")); }
      else if (e.key === "[") { done = press(byKey("prev-page")); }
    } else {
      var map = { m: "m", n: "n", s: "s", j: "next", k: "prev", q: "q", c: "c" };
      var reason = document.querySelector("[data-decide] input[name=reason]");
      if (e.key === "r" && reason) { reason.focus(); done = true; }
      else if (e.key === "N") { done = choose("n"); }
      else if (e.key === "M") { done = choose("m"); }
      else if (map[e.key]) done = press(byKey(map[e.key]));
    }
    if (done) e.preventDefault();
  });

  // Forms that change records say what they will do before they do it.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });
})();
