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

  // the code turns every step seconds (QR_STEP); a new image at each turn (tills accept one step either side,
  // so a phone clock a few seconds off still works). A failed load means offline: the barcode is shown instead.
  var qr = document.getElementById("qr");
  var timer = null;
  function refresh() {
    if (!qr) return;
    clearTimeout(timer);
    var step = parseInt(qr.dataset.step, 10) || 30;
    qr.src = qr.dataset.src + "?t=" + Date.now();
    var left = step - (Math.floor(Date.now() / 1000) % step);
    timer = setTimeout(refresh, left * 1000 + 300);
  }
  if (qr) {
    qr.addEventListener("load", function () { online(true); });
    qr.addEventListener("error", function () { online(false); });
    if (!navigator.onLine) online(false);
    refresh();
  }

  // Web Push: the page carries the VAPID key (services.messages.vapid_public_key); the button subscribes with
  // pushManager.subscribe and posts the subscription to /card/push, which also records push consent.
  var push = document.getElementById("push");
  function key(b64) {
    var raw = atob((b64 + "===".slice((b64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  if (push && body.dataset.vapid && "PushManager" in window && "serviceWorker" in navigator) {
    push.hidden = false;
    push.addEventListener("click", function () {
      push.disabled = true;
      navigator.serviceWorker.ready.then(function (registration) {
        return registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key(body.dataset.vapid) });
      }).then(function (subscription) {
        return fetch(body.dataset.push, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": body.dataset.csrf },
          body: JSON.stringify(subscription.toJSON())
        });
      }).then(function (response) {
        if (!response.ok) throw new Error("push " + response.status);
        push.hidden = true;
        var shown = document.querySelector("[data-consent=push]");
        if (shown) shown.textContent = "✓";
      }).catch(function () { push.disabled = false; });
    });
  }
})();
