// loyalty-edge console: the segmenter's live size. While the draft is typed, post the form to the
// preview endpoint and show the count and the sample; the page works without this (its Count button).
(function () {
  "use strict";
  function init(form) {
    var url = form.getAttribute("data-preview-url");
    var count = document.getElementById("live-count");
    var status = document.getElementById("live-status");
    var sample = document.getElementById("live-sample");
    var timer = null, seq = 0;
    function clearErrors() {
      // the definition's messages (a server-drawn one too): the latest count says them again
      form.querySelectorAll("em.error").forEach(function (e) {
        var where = e.getAttribute("data-for") || "";
        if (e.classList.contains("live") || where.indexOf("c.") === 0) { e.remove(); }
      });
    }
    function showErrors(errors) {
      clearErrors();
      var first = null;
      Object.keys(errors).forEach(function (name) {
        var safe = name.replace(/"/g, "");
        var input = form.querySelector('[name="' + safe + '"]') || form.querySelector('[name^="' + safe + '."]');
        var box = input ? input.closest(".field, .criterion") : null;
        var em = document.createElement("em");
        em.className = "error live";
        em.setAttribute("data-for", name);
        em.textContent = errors[name];
        (box || status).appendChild(em);
        if (!first) { first = errors[name]; }
      });
      return first;
    }
    function refresh() {
      var mine = ++seq;
      status.textContent = status.getAttribute("data-counting") || "…";
      fetch(url, {method: "POST", body: new FormData(form), credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
        .then(function (res) {
          if (mine !== seq) { return; }
          if (!res.ok) {
            count.textContent = "—";
            sample.innerHTML = "";
            var first = res.body.errors ? showErrors(res.body.errors) : (res.body.detail || "");
            status.textContent = first || "";
            return;
          }
          clearErrors();
          count.textContent = res.body.count.toLocaleString(document.documentElement.lang || "ru");
          status.textContent = "";
          sample.innerHTML = "";
          res.body.sample.forEach(function (c) {
            var li = document.createElement("li");
            var a = document.createElement("a");
            a.href = form.getAttribute("data-customer-url").replace("__id__", encodeURIComponent(c.id));
            a.textContent = c.name || c.id;
            li.appendChild(a);
            if (c.phone) { li.appendChild(document.createTextNode(" " + c.phone)); }
            sample.appendChild(li);
          });
        })
        .catch(function () { if (mine === seq) { status.textContent = "?"; } });
    }
    function later() { clearTimeout(timer); timer = setTimeout(refresh, 350); }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    if (form.querySelector(".criterion")) { refresh(); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-segmenter]").forEach(init);
  });
})();
