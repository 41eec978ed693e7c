/* The Tessera Authenticator's service worker (scope /authenticator): it keeps the app shell
 * (the page, its scripts and styles, the manifest) so the app opens offline and can still
 * show passcodes. The device API (/api/) is never cached. */
const CACHE = 'tessera-authenticator-v1';
const SHELL = '/authenticator';

async function cacheShell() {
  const cache = await caches.open(CACHE);
  const response = await fetch(SHELL, { cache: 'no-store' });
  if (!response.ok) return;
  const html = await response.clone().text();
  await cache.put(SHELL, response);
  // The built assets the page refers to (hashed names, so they never change under one name).
  const assets = new Set(['/authenticator.webmanifest']);
  for (const match of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) assets.add(match[1]);
  await Promise.all(
    [...assets].map(async (url) => {
      try {
        const r = await fetch(url);
        if (r.ok) await cache.put(url, r);
      } catch {
        /* offline during install: cached next time */
      }
    }),
  );
}

self.addEventListener('install', (event) => {
  event.waitUntil(cacheShell().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;
  if (request.mode === 'navigate') {
    // Network first (a new version when online), the cached shell when offline.
    event.respondWith(fetch(request).catch(() => caches.match(SHELL).then((cached) => cached || Response.error())));
    // Online: refresh the cached shell (a new version's assets) in the background.
    event.waitUntil(cacheShell().catch(() => undefined));
    return;
  }
  if (url.pathname.startsWith('/assets/') || url.pathname === '/authenticator.webmanifest') {
    event.respondWith(
      caches.match(request).then(
        (cached) =>
          cached ||
          fetch(request).then((response) => {
            if (response.ok) {
              const copy = response.clone();
              void caches.open(CACHE).then((cache) => cache.put(request, copy));
            }
            return response;
          }),
      ),
    );
  }
});

/* A push (src/device/web-push.ts sends `{ type: "push", transactionId }`): a notification from
 * the payload alone (nothing is fetched here); names, when the payload has them, go in the body. */
self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = (event.data ? event.data.json() : {}) || {};
  } catch {
    /* not JSON */
  }
  if (data.type !== 'push' || typeof data.transactionId !== 'string' || !data.transactionId) return;
  const user = typeof data.userName === 'string' && data.userName ? data.userName : typeof data.email === 'string' ? data.email : '';
  const firm = typeof data.firmName === 'string' ? data.firmName : '';
  const body = user && firm ? `${user} at ${firm} — tap to review` : 'Someone is signing in with your account — tap to review';
  event.waitUntil(
    self.registration.showNotification('Login request', {
      body,
      tag: data.transactionId,
      renotify: true,
      requireInteraction: true,
      data: { transactionId: data.transactionId },
    }),
  );
});

/* A tap: an open app window is focused and told which request; else the app opens on it. */
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const transactionId = (event.notification.data && event.notification.data.transactionId) || event.notification.tag || '';
  const target = transactionId ? `${SHELL}#request=${encodeURIComponent(transactionId)}` : SHELL;
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((list) => {
      for (const client of list) {
        if (new URL(client.url).pathname.startsWith(SHELL)) {
          if (transactionId) client.postMessage({ type: 'open-request', transactionId });
          return client.focus();
        }
      }
      return self.clients.openWindow(target);
    }),
  );
});
