// The main menu folds behind a "Menu" button on narrow screens (app.css decides the width).
// The button stays hidden until this script runs: without JavaScript the menu is simply open.
(function () {
  "use strict";
  var button = document.querySelector(".menu-toggle");
  var header = button && button.closest(".topbar");
  var menu = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!button || !header || !menu) { return; }

  function setOpen(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    header.classList.toggle("menu-open", open);
  }

  header.classList.add("menu-folds");
  setOpen(false);
  button.hidden = false;
  button.addEventListener("click", function () {
    setOpen(button.getAttribute("aria-expanded") !== "true");
  });
  // Escape closes the open menu and brings focus back to its button.
  header.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true" &&
        window.getComputedStyle(button).display !== "none") {
      setOpen(false);
      button.focus();
    }
  });
})();
