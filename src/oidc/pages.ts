import { escapeHtml } from '../http/html.js';

/**
 * The OpenID Connect door's own small pages (the provider's error, logout and signed-out pages,
 * the interaction's refusals): plain HTML, no script, readable at 360 px. Everything else a user
 * sees while signing in to an application is Tessera's own web app (/login, /mfa, /enroll).
 */
export const page = (title: string, body: string) =>
  `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)} - Tessera</title>` +
  `<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1d2433;line-height:1.5}button{margin-right:.5rem;padding:.5rem 1rem;font:inherit}a{color:#1d4ed8}</style></head>` +
  `<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
