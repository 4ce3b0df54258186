// loyalty-edge console: the trigger editor. The page works without this script (its buttons post the form
// and the server adds or removes steps, conditions and actions); the script only brings the page back to the
// step that was changed, and adds a condition or an action as soon as its type is chosen.
(function () {
  "use strict";
  var form = document.querySelector("form[data-trigger-editor]");
  if (!form) { return; }
  form.addEventListener("click", function (e) {
    var button = e.target.closest("button[name=action]");
    if (!button) { return; }
    var step = button.closest("fieldset.step");
    var base = form.getAttribute("action") || window.location.pathname + window.location.search;
    base = base.split("#")[0];
    if (button.value === "add_step") {
      form.setAttribute("action", base + "#step-" + (form.querySelectorAll("fieldset.step").length + 1));
    } else if (step && button.value !== "save") {
      form.setAttribute("action", base + "#" + step.id);
    } else {
      form.setAttribute("action", base);
    }
  });
  form.querySelectorAll("select[name^='add.s.']").forEach(function (select) {
    select.insertBefore(new Option("—", "", true, true), select.firstChild);
    select.addEventListener("change", function () {
      if (!select.value) { return; }
      var button = select.parentNode.querySelector("button[name=action]");
      if (button) { button.click(); }
    });
  });
}());
