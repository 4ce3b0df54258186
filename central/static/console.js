// loyalty-edge console: the little that needs a script. Served from the package; no CDN.
(function () {
  "use strict";
  // a background job's progress (imports): poll its status row until it is finished
  function pollJob(box) {
    var url = box.getAttribute("data-job-url");
    var bar = box.querySelector(".progress > div");
    var text = box.querySelector(".job-text");
    function tick() {
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (job) {
        var pct = job.total ? Math.floor(100 * job.done / job.total) : 0;
        bar.style.width = pct + "%";
        text.textContent = job.text;
        if (job.state === "running" || job.state === "queued") { setTimeout(tick, 700); }
        else { window.location.reload(); }
      }).catch(function () { setTimeout(tick, 2000); });
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
