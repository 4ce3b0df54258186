// The template editor: the SMS length counter (GSM 7-bit 160/153 per part, UCS-2 such as Cyrillic
// 70/67: central/messages/templates.py sms_parts), the subject shown only for email and push, the HTML
// body only for email.
(function () {
  "use strict";
  function parts(text) {
    var gsm = /^[\x00-\x7f]*$/.test(text);
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    if (text.length <= single) return [text ? 1 : 0, single];
    return [Math.ceil(text.length / multi), multi];
  }
  function init() {
    var body = document.querySelector("[data-body]");
    var counter = document.querySelector("[data-sms-counter]");
    var channel = document.querySelector("[data-channel]");
    var subject = document.querySelector("[data-subject]");
    var html = document.querySelector("[data-html]");
    if (!body || !counter || !channel) return;
    function update() {
      var sms = channel.value === "sms" || channel.value === "voice";
      counter.hidden = !sms;
      if (subject) subject.hidden = !(channel.value === "email" || channel.value === "push");
      if (html) html.hidden = channel.value !== "email";
      var p = parts(body.value);
      counter.textContent = body.value.length + " " + counter.getAttribute("data-label-parts") + " " + p[0] +
        " (" + p[1] + " " + counter.getAttribute("data-label-per") + ")";
      counter.setAttribute("data-parts", String(p[0]));
    }
    body.addEventListener("input", update);
    channel.addEventListener("change", update);
    update();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
// A mailing's page: its counts refreshed every two seconds until it is finished.
(function () {
  "use strict";
  function init() {
    var box = document.getElementById("progress");
    if (!box) return;
    var url = box.getAttribute("data-progress-url");
    function tick() {
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (p) {
        var c = p.counts;
        var values = {queued: c.queued + c.sending, sent: c.sent + c.delivered, delivered: c.delivered,
          failed: c.failed, skipped: c.skipped, unsubscribed: p.unsubscribed, opened: p.opened, clicked: p.clicked};
        Object.keys(values).forEach(function (k) {
          var el = box.querySelector("[data-count=" + k + "]");
          if (el) el.textContent = String(values[k]);
        });
        box.querySelector("[data-state]").textContent = p.state_label;
        var reasons = document.querySelector("#reasons tbody");
        var keys = Object.keys(p.reasons);
        if (reasons && keys.length) {
          reasons.textContent = "";
          keys.forEach(function (why) {
            var tr = document.createElement("tr"), a = document.createElement("td"), b = document.createElement("td");
            a.textContent = why; b.textContent = String(p.reasons[why]); b.className = "num";
            tr.appendChild(a); tr.appendChild(b); reasons.appendChild(tr);
          });
        }
        if (p.state !== "finished") setTimeout(tick, 2000);
      }).catch(function () { setTimeout(tick, 5000); });
    }
    if (!box.getAttribute("data-done")) setTimeout(tick, 1000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
