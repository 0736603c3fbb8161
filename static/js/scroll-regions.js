/* A table wider than its box scrolls inside it (static/css/app.css, "Layout"); such a
   box gets tabindex="0" so a keyboard user can reach it and scroll it with the arrow
   keys. Checked on load, on resize and after each HTMX swap. */
(function () {
  "use strict";
  function mark() {
    document.querySelectorAll("main .card, main :has(> table)").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.dataset.scrollRegion = "1";
      } else if (!scrolls && box.dataset.scrollRegion) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrollRegion;
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mark);
  } else {
    mark();
  }
  window.addEventListener("resize", mark);
  document.addEventListener("htmx:afterSettle", mark);
})();
