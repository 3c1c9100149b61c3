/* The API docs page (templates/drf_spectacular/swagger_ui.html): what Swagger UI leaves out for
   screen readers and keyboards, added as it draws the page. Attributes only: React keeps its own
   elements, and a redraw is mended again by the observer before anything else can run. */
"use strict";
(() => {
  const root = document.getElementById("swagger-ui");
  const name = (element, text) => {
    if (!element.hasAttribute("aria-label") && !element.hasAttribute("aria-labelledby")) {
      element.setAttribute("aria-label", text);
    }
  };
  const mend = () => {
    // Swagger's title is an h1 and its next headings h3 (tags), h4, h5: each one level up, so none is skipped.
    root.querySelectorAll("h3, h4, h5").forEach((heading) => {
      heading.setAttribute("aria-level", String(Number(heading.tagName[1]) - 1));
    });
    // When the schema cannot be loaded, Swagger says so (h4s under our h1) outside any landmark:
    // an alert, headed one level under the page's title.
    root.querySelectorAll(".loading-container > .info").forEach((failure) => {
      failure.setAttribute("role", "alert");
      failure.querySelectorAll("h4").forEach((heading) => {
        heading.setAttribute("aria-level", heading.classList.contains("title") ? "2" : "3");
      });
      failure.querySelectorAll(".errors h4").forEach((heading) => heading.setAttribute("aria-level", "4"));
    });
    // A parameter's list of values, and a response's examples, are selects without a name.
    root.querySelectorAll("tr[data-param-name] select").forEach((select) => {
      name(select, select.closest("tr").dataset.paramName);
    });
    root.querySelectorAll("select.examples-select-element").forEach((select) => name(select, "Examples"));
    // "Try it out": the request body's text box has no label.
    root.querySelectorAll("textarea.body-param__text").forEach((box) => name(box, "Request body"));
    // Each operation's responses are a region of the same (empty) name: name it after its operation.
    root.querySelectorAll(".opblock table[role=region]").forEach((table) => {
      const operation = table.closest(".opblock");
      const method = operation.querySelector(".opblock-summary-method");
      const path = operation.querySelector(".opblock-summary-path");
      name(table, `Responses of ${method ? method.textContent : ""} ${path ? path.dataset.path : ""}`.trim());
    });
    // The Authorize window: a dialog with a name, and a close button that says what it does.
    root.querySelectorAll(".dialog-ux .modal-ux").forEach((dialog) => {
      dialog.setAttribute("role", "dialog");
      dialog.setAttribute("aria-modal", "true");
      name(dialog, "Available authorizations");
    });
    root.querySelectorAll(".dialog-ux .close-modal").forEach((button) => name(button, "Close"));
    // An example that scrolls sideways can be reached, and scrolled, from the keyboard.
    root.querySelectorAll(".highlight-code pre, pre.microlight, pre.curl").forEach((pre) => {
      if (!pre.hasAttribute("tabindex")) pre.tabIndex = 0;
    });
    // The title and description sit outside Swagger's <main>: a landmark of their own.
    root.querySelectorAll(".information-container").forEach((info) => {
      info.setAttribute("role", "region");
      name(info, "About this API");
    });
    // Our <main> and heading stand in until Swagger draws its own (a page has one main landmark).
    document.getElementById("docs-placeholder").hidden = root.querySelector("main") !== null;
  };
  new MutationObserver(mend).observe(root, { childList: true, subtree: true });
  mend();
})();
