// The customer's web card (docs/web-card.md): the QR code turns with its time step, the service worker keeps
// the last card for offline use, signing out forgets it. No inline scripts anywhere (CSP script-src 'self').
(function () {
  "use strict";
  var body = document.body;
  var CACHE = "card-v1";

  if ("serviceWorker" in navigator && body.dataset.sw) {
    navigator.serviceWorker.register(body.dataset.sw, { scope: body.dataset.scope }).catch(function () {});
  }
  if (body.dataset.signedOut && "caches" in window) {
    caches.delete(CACHE); // the last card (personal data) leaves this phone with the session
  }

  function online(yes) {
    body.classList.toggle("offline", !yes);
  }
  window.addEventListener("online", function () { online(true); refresh(); });
  window.addEventListener("offline", function () { online(false); });

  var qr = document.getElementById("qr");
  var timer = null;
  function refresh() {
    if (!qr) return;
    clearTimeout(timer);
    fetch(qr.dataset.src, { cache: "no-store", credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      var next = parseInt(r.headers.get("X-Refresh-In") || qr.dataset.step, 10);
      return r.blob().then(function (blob) {
        var old = qr.src;
        qr.src = URL.createObjectURL(blob);
        if (old.indexOf("blob:") === 0) URL.revokeObjectURL(old);
        online(true);
        timer = setTimeout(refresh, Math.max(next, 1) * 1000 + 200);
      });
    }).catch(function () {
      online(false);
      timer = setTimeout(refresh, 10000);
    });
  }
  if (qr) {
    if (!navigator.onLine) online(false);
    refresh();
  }

  // WEB PUSH (left for the messages engineer): once services.messages.vapid_public_key exists, the page gets
  // the key, subscribes with pushManager.subscribe and POSTs the subscription to /card/push.
  var push = document.getElementById("push");
  if (push && body.dataset.vapid && "PushManager" in window) {
    push.hidden = false;
  }
})();
