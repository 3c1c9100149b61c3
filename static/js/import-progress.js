// Live progress for a running import: polls the progress endpoint and reloads the page when
// the run ends. Without JavaScript the page refreshes itself (<noscript> meta refresh).
(function () {
  "use strict";
  var card = document.getElementById("progress-card");
  if (!card || card.dataset.running !== "1") { return; }
  var bar = document.getElementById("progress");
  var text = document.getElementById("progress-text");
  var label = document.getElementById("status-label");

  function duration(seconds) {
    if (seconds === null || seconds === undefined) { return ""; }
    if (seconds < 60) { return seconds + " s"; }
    return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
  }

  function poll() {
    fetch(card.dataset.url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (p) {
        label.textContent = p.status_label;
        if (p.percent !== null) { bar.value = p.percent; }
        var parts = [p.rows_done.toLocaleString() + " rows" + (p.rows_total ? " of " + p.rows_total.toLocaleString() : "")];
        if (p.percent !== null) { parts.push(p.percent + "%"); }
        if (p.rows_per_second) { parts.push(p.rows_per_second.toLocaleString() + " rows/s"); }
        if (p.seconds_left !== null) { parts.push("about " + duration(p.seconds_left) + " left"); }
        text.textContent = parts.join(" · ");
        if (!p.running) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  poll();
})();
