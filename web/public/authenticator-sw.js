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

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    /* not JSON */
  }
  if (data.type !== 'push') return;
  event.waitUntil(
    self.registration.showNotification('Tessera sign-in request', {
      body: 'Open the Tessera Authenticator to approve or deny it.',
      tag: `tessera-${data.transactionId || 'push'}`,
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: 'window' }).then((list) => {
      for (const client of list) if (new URL(client.url).pathname.startsWith(SHELL)) return client.focus();
      return self.clients.openWindow(SHELL);
    }),
  );
});
