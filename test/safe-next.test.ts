import { describe, expect, it } from 'vitest';
import { isSameSitePath, safeNext } from '../web/src/safe-next.js';

/** Where the web app goes after sign-in (issue 4.8): a path on this site, never an open redirect. */
describe('the ?next= check', () => {
  it.each(['/home', '/admin/users?q=ann', '/me/security#keys', '/a:b'])('follows the same-site path %s', (next) => {
    expect(isSameSitePath(next)).toBe(true);
    expect(safeNext(next)).toBe(next);
  });

  it.each([
    '//evil.example',
    '/\\evil.example',
    'https://evil.example/',
    'javascript:alert(1)',
    'evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    ' /home',
    '',
    '/' + 'a'.repeat(3000),
  ])('refuses %j and lands on /home', (next) => {
    expect(isSameSitePath(next)).toBe(false);
    expect(safeNext(next)).toBe('/home');
  });

  it('never goes back to a sign-in page (that would loop)', () => {
    for (const p of ['/login', '/login/', '/mfa?next=/x', '/enroll', '/operator/login']) expect(safeNext(p)).toBe('/home');
  });

  it('treats a missing parameter as no parameter', () => {
    expect(safeNext(null)).toBe('/home');
    expect(safeNext(undefined, '/operator')).toBe('/operator');
  });
});
