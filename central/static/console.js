// loyalty-edge console: the little that needs a script. Served from the package; no CDN.
(function () {
  "use strict";
  // a background job's progress (imports, exports): poll its status and move the bar; never reload the page.
  // When the job ends, the block is swapped for the same block of the finished page.
  function pollJob(box) {
    var url = box.getAttribute("data-job-url");
    function tick() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (job) {
          var bar = box.querySelector("progress");
          var text = box.querySelector(".job-text");
          if (bar && job.total) { bar.max = job.total; bar.value = job.done; }
          if (text && job.text) { text.textContent = job.text; }
          if (job.running) { setTimeout(tick, 700); } else { finish(); }
        })
        .catch(function () { setTimeout(tick, 2000); });
    }
    function finish() {
      fetch(window.location.href, {credentials: "same-origin"}).then(function (r) { return r.text(); }).then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(box.id);
        if (!fresh) { window.location.reload(); return; }
        box.replaceWith(fresh);
        if (fresh.hasAttribute("data-job-url")) { pollJob(fresh); }
      }).catch(function () { setTimeout(finish, 2000); });
    }
    tick();
  }
  // filter conditions: add a row by copying the hidden template, remove one with its button
  function initFilters(root) {
    var list = root.querySelector(".conds");
    var template = root.querySelector("template.cond-template");
    root.addEventListener("click", function (e) {
      if (e.target.matches("[data-add-cond]")) {
        e.preventDefault();
        list.appendChild(template.content.cloneNode(true));
        limitOps(list.lastElementChild);
      } else if (e.target.matches("[data-remove-cond]")) {
        e.preventDefault();
        e.target.closest(".cond").remove();
      }
    });
  }
  // a confirmation before destructive actions (merge, block)
  document.addEventListener("submit", function (e) {
    var message = e.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { e.preventDefault(); }
  });
  // a time rule shows only the inputs of its kind (a date, weekdays, hours)
  function showKind(row) {
    var kind = row.querySelector("[data-rule-type]").value;
    row.querySelectorAll("[data-when]").forEach(function (cell) {
      cell.classList.toggle("off", cell.getAttribute("data-when").split(" ").indexOf(kind) < 0);
    });
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-rule-type]")) { showKind(e.target.closest(".rule-row")); }
    if (e.target.matches("[data-field]")) { limitOps(e.target.closest(".cond")); }
  });
  // a filter condition offers only the comparisons its field has
  function limitOps(cond) {
    var field = cond.querySelector("[data-field]");
    var allowed = (field.selectedOptions[0] && field.selectedOptions[0].getAttribute("data-ops") || "").split(",");
    var op = cond.querySelector("[data-op]");
    Array.prototype.forEach.call(op.options, function (o) { o.hidden = allowed.indexOf(o.value) < 0; });
    if (op.selectedOptions[0] && op.selectedOptions[0].hidden) {
      var first = Array.prototype.find.call(op.options, function (o) { return !o.hidden; });
      if (first) { op.value = first.value; }
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".rule-row.time:not(.head)").forEach(showKind);
    var result = document.getElementById("whatif");  // a what-if answer is below a long form: show it
    if (result) { result.scrollIntoView(); }
    document.querySelectorAll(".cond").forEach(limitOps);
    document.querySelectorAll("[data-job-url]").forEach(pollJob);
    document.querySelectorAll("[data-filters]").forEach(initFilters);
  });
})();
