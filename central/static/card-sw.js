// The web card's service worker (docs/web-card.md): the card page and its barcode are fetched from the network
// first and kept; offline, the last card is shown from the cache. The QR code is never cached (it expires).
"use strict";
var CACHE = "card-v1";
var KEEP = ["/card/", "/card/barcode.svg", "/static/card.css", "/static/card.js", "/card/manifest.webmanifest"];

self.addEventListener("install", function (event) {
  self.skipWaiting();
});
self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});
self.addEventListener("fetch", function (event) {
  var url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  var path = url.pathname;
  if (KEEP.indexOf(path) < 0) return; // everything else (the QR code, forms) goes to the network only
  event.respondWith(
    fetch(event.request).then(function (response) {
      // keep only the signed-in card itself, never a redirect to the sign-in page
      if (response.ok && !response.redirected) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(path, copy); });
      }
      return response;
    }).catch(function () {
      return caches.match(path).then(function (hit) { return hit || Response.error(); });
    })
  );
});

// Web Push (docs/messages.md): the payload is {title, body, tag}, decrypted by the browser; a tap opens the card.
self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { body: event.data && event.data.text() }; }
  event.waitUntil(self.registration.showNotification(data.title || "", { body: data.body || "", tag: data.tag }));
});
self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(self.clients.openWindow(self.registration.scope));
});
