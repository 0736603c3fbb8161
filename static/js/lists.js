// Lists (the account list): a click anywhere on a row opens the row's first link,
// except on links, buttons and form fields or while selecting text; the link in the
// first cell stays the keyboard way in. Delegated on the document, so it works again
// after HTMX swaps the results (docs/architecture.md, "Lists").
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var row = target.closest("tr.row-link");
    if (!row || target.closest("a, button, input, select, label, textarea, summary")) return;
    if (window.getSelection && String(window.getSelection()).length > 0) return;
    var link = row.querySelector("a.row-link-target");
    if (!link) return;
    if (event.ctrlKey || event.metaKey) {
      window.open(link.href, "_blank", "noopener");
    } else {
      window.location.assign(link.href);
    }
  });
})();
