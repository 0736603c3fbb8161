// The appeal queue: a click anywhere on a row opens the appeal (the row's first link),
// except on its checkbox, links, buttons and labels; the link itself stays the keyboard
// way in. Works again after HTMX swaps the results (delegated on the document).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var row = target.closest("tr.row-link");
    if (!row || target.closest("a, button, input, select, label, textarea")) return;
    if (window.getSelection && String(window.getSelection()).length > 0) return; // selecting text
    var link = row.querySelector("a.row-link-target");
    if (!link) return;
    if (event.ctrlKey || event.metaKey || event.button === 1) {
      window.open(link.href, "_blank", "noopener");
    } else {
      window.location.assign(link.href);
    }
  });
  // The bulk bar shows the field its action needs.
  function sync() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var action = form.querySelector("[name=action]");
    var assignee = form.querySelector("[name=assignee]");
    var until = form.querySelector("[name=until]");
    if (!action || !assignee || !until) return;
    assignee.closest("p").hidden = action.value !== "assign";
    until.closest("p").hidden = action.value !== "snooze";
  }
  document.addEventListener("change", function (event) {
    if (event.target instanceof Element && event.target.matches("#bulk-form [name=action]")) sync();
  });
  document.addEventListener("DOMContentLoaded", sync);
})();
