// Figures that keep changing (a running campaign's report): every N seconds, while the tab is
// visible, the page is fetched again and its sections are swapped in place: no <meta refresh>,
// so nothing reloads under the reader, focus stays where it is and open <details> stay open.
// The page opts in with data-refresh-seconds="N" on one element; when a fetched copy no longer
// carries it (the campaign has finished), the figures are updated one last time and polling stops.
(function () {
  "use strict";
  var marker = document.querySelector("[data-refresh-seconds]");
  var main = document.querySelector("main");
  if (!marker || !main || !window.fetch || !window.DOMParser) { return; }
  var seconds = parseInt(marker.getAttribute("data-refresh-seconds"), 10);
  if (!(seconds > 0)) { return; }
  var timer = null, busy = false, stopped = false;

  function openDetails(root) {
    var open = {};
    root.querySelectorAll("details[open] > summary").forEach(function (s) { open[s.textContent.trim()] = true; });
    return open;
  }

  function keepOpen(root, open) {
    root.querySelectorAll("details > summary").forEach(function (s) {
      s.parentElement.open = !!open[s.textContent.trim()];
    });
  }

  function ids(root) {
    return Array.prototype.map.call(root.querySelectorAll(":scope > [id]"), function (el) { return el.id; }).join(" ");
  }

  function swap(fresh) {
    var open = openDetails(main);
    var focused = document.activeElement;
    if (ids(fresh) === ids(main)) {
      // Same parts: replace each one, except the one holding the keyboard focus.
      Array.prototype.forEach.call(fresh.querySelectorAll(":scope > [id]"), function (part) {
        var old = document.getElementById(part.id);
        if (old && !(focused && old.contains(focused))) { old.replaceWith(part); }
      });
    } else {
      main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes));
    }
    keepOpen(main, open);
  }

  function schedule() {
    window.clearTimeout(timer);
    if (!stopped && document.visibilityState === "visible") { timer = window.setTimeout(refresh, seconds * 1000); }
  }

  function refresh() {
    if (busy || stopped) { return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        if (!fresh) { return; }
        if (!fresh.querySelector("[data-refresh-seconds]")) { stopped = true; }
        swap(fresh);
      })
      .catch(function () { /* a failed fetch: try again at the next tick */ })
      .then(function () { busy = false; schedule(); });
  }

  // A hidden tab does not poll; coming back shows fresh figures at once.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { refresh(); } else { window.clearTimeout(timer); }
  });
  schedule();
})();
