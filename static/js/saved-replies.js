// A conversation's saved replies: choosing one puts its text (filled in by the server for this
// contact) into the reply box at once, and the segment counter follows. Without JavaScript the
// "Insert" button reloads the page with the reply box starting with the chosen text.
(function () {
  "use strict";
  document.querySelectorAll("select[data-insert-into]").forEach(function (select) {
    var box = document.getElementById(select.getAttribute("data-insert-into"));
    var button = select.form && select.form.querySelector("button[type=submit]");
    if (!box) { return; }
    if (button) { button.hidden = true; }
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      var body = option && option.getAttribute("data-body");
      if (!body) { return; }
      box.value = box.value ? box.value.replace(/\s*$/, " ") + body : body;
      box.dispatchEvent(new Event("input"));
      box.focus();
      select.selectedIndex = 0;
    });
  });
})();
