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
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-job-url]").forEach(pollJob);
    document.querySelectorAll("[data-filters]").forEach(initFilters);
  });
})();
