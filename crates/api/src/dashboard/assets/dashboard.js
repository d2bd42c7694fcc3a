// mailpulse dashboard: the all/human toggle and auto-refresh. The server renders every number
// and chart (twice: all events and human only); this script only chooses which to show and
// swaps in a freshly rendered page body every `data-refresh` seconds.
(function () {
  "use strict";
  var MODE_KEY = "mailpulse.mode";
  var REFRESH_KEY = "mailpulse.autorefresh";
  var grouping = new Intl.NumberFormat("en-US");

  // `?mode=human` (a shared link) wins over the mode remembered in this browser.
  function storedMode() {
    var asked = new URLSearchParams(window.location.search).get("mode");
    if (asked === "human" || asked === "all") { return asked; }
    try { return localStorage.getItem(MODE_KEY) === "human" ? "human" : "all"; } catch (e) { return "all"; }
  }

  function formatValue(el, raw) {
    if (raw === "" || raw === null) { return "\u2014"; }
    var value = Number(raw);
    // The same rounding as the server (format.rs `rate`).
    if (el.classList.contains("rate")) { return (Math.round(value * 1000) / 10).toFixed(1) + "%"; }
    return grouping.format(value);
  }

  function applyMode(mode) {
    document.body.classList.toggle("mode-human", mode === "human");
    var numbers = document.querySelectorAll("[data-all]");
    for (var i = 0; i < numbers.length; i++) {
      var el = numbers[i];
      el.textContent = formatValue(el, el.getAttribute(mode === "human" ? "data-human" : "data-all"));
    }
    var buttons = document.querySelectorAll("[data-mode]");
    for (var j = 0; j < buttons.length; j++) {
      buttons[j].classList.toggle("active", buttons[j].getAttribute("data-mode") === mode);
    }
  }

  function stamp() {
    var updated = document.getElementById("updated");
    if (updated) { updated.textContent = "· " + new Date().toLocaleTimeString(); }
  }

  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        // Logged out meanwhile (key revoked): show the login page.
        if (response.redirected && /\/login/.test(response.url)) { window.location.assign(response.url); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("content");
        var current = document.getElementById("content");
        if (fresh && current) {
          current.innerHTML = fresh.innerHTML;
          applyMode(storedMode());
          stamp();
        }
      })
      .catch(function () { /* offline for a moment: try again next time */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    applyMode(storedMode());
    document.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-mode]") : null;
      if (!button) { return; }
      var mode = button.getAttribute("data-mode");
      try { localStorage.setItem(MODE_KEY, mode); } catch (e) { /* private mode */ }
      var url = new URL(window.location.href);
      if (url.searchParams.has("mode")) {
        url.searchParams.set("mode", mode);
        window.history.replaceState(null, "", url.toString());
      }
      applyMode(mode);
    });

    var content = document.getElementById("content");
    var box = document.getElementById("autorefresh");
    if (!content || !box) { return; }
    var seconds = Number(content.getAttribute("data-refresh")) || 30;
    try { box.checked = localStorage.getItem(REFRESH_KEY) !== "off"; } catch (e) { /* default on */ }
    box.addEventListener("change", function () {
      try { localStorage.setItem(REFRESH_KEY, box.checked ? "on" : "off"); } catch (e) { /* ignore */ }
    });
    stamp();
    setInterval(function () {
      if (box.checked && document.visibilityState === "visible") { refresh(); }
    }, seconds * 1000);
  });
})();
