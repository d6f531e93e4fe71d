// Every page: small enhancements that the pages also work without.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // A table wider than its frame scrolls inside it: let the keyboard reach and scroll it,
  // and name the region after the table's caption (WCAG 2.1.1; axe: scrollable-region-focusable).
  function markScrollableTables() {
    document.querySelectorAll(".table-scroll").forEach(function (frame) {
      var scrolls = frame.scrollWidth > frame.clientWidth + 1;
      if (scrolls && !frame.hasAttribute("tabindex")) {
        var caption = frame.querySelector("caption");
        frame.setAttribute("tabindex", "0");
        frame.setAttribute("role", "region");
        if (caption) { frame.setAttribute("aria-label", caption.textContent.trim()); }
      } else if (!scrolls && frame.getAttribute("tabindex") === "0") {
        frame.removeAttribute("tabindex");
        frame.removeAttribute("role");
        frame.removeAttribute("aria-label");
      }
    });
  }

  // A tab bar that scrolls (a phone) shows the current tab, not only the first ones.
  function showCurrentTabs() {
    document.querySelectorAll(".tabs").forEach(function (bar) {
      var current = bar.querySelector("[aria-current=page]") || bar.querySelector("[aria-current=true]");
      if (current && bar.scrollWidth > bar.clientWidth) {
        bar.scrollLeft = current.offsetLeft - (bar.clientWidth - current.offsetWidth) / 2;
      }
    });
  }

  markScrollableTables();
  showCurrentTabs();
  var pending = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(markScrollableTables, 150);
  });
})();
