// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    // "Select all on page".
    var pageBox = document.getElementById("select-page");
    var rows = Array.prototype.slice.call(document.querySelectorAll(".row-check"));
    if (pageBox && rows.length) {
      pageBox.hidden = false;
      pageBox.addEventListener("change", function () {
        rows.forEach(function (box) { box.checked = pageBox.checked; });
      });
      rows.forEach(function (box) {
        box.addEventListener("change", function () {
          var checked = rows.filter(function (b) { return b.checked; }).length;
          pageBox.checked = checked === rows.length;
          pageBox.indeterminate = checked > 0 && checked < rows.length;
        });
      });
    }

    // Copy ID.
    Array.prototype.forEach.call(document.querySelectorAll(".copy-id"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var value = button.getAttribute("data-copy");
        if (navigator.clipboard) {
          navigator.clipboard.writeText(value).then(function () {
            button.textContent = "Copied";
          }, function () {});
        }
      });
    });

    // Close open overflow menus with Escape or a click elsewhere.
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      Array.prototype.forEach.call(document.querySelectorAll("details.menu[open]"), function (menu) {
        menu.open = false;
        menu.querySelector("summary").focus();
      });
    });
    document.addEventListener("click", function (event) {
      Array.prototype.forEach.call(document.querySelectorAll("details.menu[open]"), function (menu) {
        if (!menu.contains(event.target)) menu.open = false;
      });
    });

    // A form marked data-once submits once; the server also dedupes.
    Array.prototype.forEach.call(document.querySelectorAll("form[data-once]"), function (form) {
      form.addEventListener("submit", function (event) {
        if (form.getAttribute("data-submitted")) { event.preventDefault(); return; }
        form.setAttribute("data-submitted", "1");
        Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (b) {
          b.setAttribute("aria-disabled", "true");
        });
      });
    });

    // Progress of a background job: re-fetch this page and swap the section.
    var poll = document.querySelector("[data-poll]");
    if (poll && window.fetch) {
      var every = parseInt(poll.getAttribute("data-poll"), 10) || 2000;
      var tick = function () {
        fetch(window.location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById(poll.id);
          if (!fresh) return;
          poll.innerHTML = fresh.innerHTML;
          if (fresh.hasAttribute("data-poll")) setTimeout(tick, every);
        }, function () { setTimeout(tick, every * 2); });
      };
      setTimeout(tick, every);
    }
  });
})();
