// Live segment count under each variant box (textarea[data-segments]) while a template is
// written. An approximation of messaging/segments.py: placeholders are counted as typed, and
// the business name and opt-out line the server adds are not; the saved preview is exact.
// A box with data-price-cents (a conversation's reply: no placeholders, nothing added) also
// shows the cost, segments times the price per segment of that number.
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "\f^{}\\[~]|€";

  function count(text) {
    var septets = 0, nonGsm = [], chars = Array.from(text);
    chars.forEach(function (c) {
      if (BASIC.indexOf(c) >= 0) { septets += 1; }
      else if (EXTENSION.indexOf(c) >= 0) { septets += 2; }
      else if (nonGsm.indexOf(c) < 0) { nonGsm.push(c); }
    });
    if (!nonGsm.length) {
      return { encoding: "GSM-7", units: septets, segments: septets <= 160 ? 1 : Math.ceil(septets / 153), nonGsm: [] };
    }
    var units = text.length;  // UTF-16 code units, as UCS-2 counts them
    return { encoding: "UCS-2", units: units, segments: units <= 70 ? 1 : Math.ceil(units / 67), nonGsm: nonGsm };
  }

  function update(box, out) {
    var price = box.getAttribute("data-price-cents");
    var priced = price !== null;
    if (!box.value) { out.textContent = priced ? "0 segments" : ""; return; }
    var info = count(box.value);
    var text = info.units + (info.encoding === "GSM-7" ? " characters" : " UTF-16 units") + ", " +
      info.encoding + ", " + (priced ? "" : "about ") + info.segments + (info.segments === 1 ? " segment" : " segments") +
      (priced ? "" : " before personalisation");
    if (priced && price !== "") { text += ", about $" + (info.segments * parseInt(price, 10) / 100).toFixed(2); }
    if (info.nonGsm.length) { text += ". UCS-2 because of: " + info.nonGsm.join(" "); }
    out.textContent = text;
  }

  document.querySelectorAll("textarea[data-segments]").forEach(function (box) {
    var out = document.querySelector('[data-segments-for="' + box.id + '"]');
    if (!out) { return; }
    box.addEventListener("input", function () { update(box, out); });
    update(box, out);
  });
})();
