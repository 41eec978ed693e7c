import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { HOTP, Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { TOTP_PARAMS, TOTP_WINDOW, beginTotpEnrollment, checkTotpCode, matchingStep, otpauthUri, totpFactor } from '../src/factors/totp/totp.factor.js';
import { addUser, firmWithAdmin, startHarness, type Harness, type TestFirm } from './support/harness.js';

/**
 * Passcodes from authenticator apps (issue 4.3, reference 1.4.2): the published RFC 4226 and
 * RFC 6238 test vectors against the TOTP library as the project configures it, the drift
 * window of one step either side, single use of every time step (RFC 6238 5.2), the otpauth
 * URI every common app reads, and the secret sealed at rest.
 */

interface Vectors {
  hotp: { secretAscii: string; digits: number; vectors: { counter: number; truncatedDecimal: number; hotp: string }[] };
  totp: { secretAscii: string; algorithm: string; digits: number; period: number; vectors: { unixSeconds: number; stepHex: string; totp: string }[] };
}
const RFC: Vectors = JSON.parse(fs.readFileSync(new URL('./vectors/rfc-vectors.json', import.meta.url), 'utf8'));

const STEP_MS = TOTP_PARAMS.period * 1000;
/** The project's code for a time step: the configured TOTP parameters, at the step's first millisecond. */
const codeAt = (secret: string, step: number) => TOTP.generate({ ...TOTP_PARAMS, secret: Secret.fromBase32(secret), timestamp: step * STEP_MS });

describe('RFC 4226 Appendix D (HOTP)', () => {
  const secret = Secret.fromLatin1(RFC.hotp.secretAscii);
  it.each(RFC.hotp.vectors)('counter $counter gives $hotp', ({ counter, truncatedDecimal, hotp }) => {
    expect(HOTP.generate({ secret, algorithm: TOTP_PARAMS.algorithm, digits: RFC.hotp.digits, counter })).toBe(hotp);
    // The dynamic truncation itself (the "Decimal" column): with 10 digits nothing is cut off.
    expect(Number(HOTP.generate({ secret, algorithm: TOTP_PARAMS.algorithm, digits: 10, counter }))).toBe(truncatedDecimal);
  });
});

describe('RFC 6238 Appendix B (TOTP, SHA1 rows)', () => {
  const secret = Secret.fromLatin1(RFC.totp.secretAscii);
  it('is the table the vectors come from', () => {
    expect(RFC.totp.vectors).toHaveLength(6);
    expect(RFC.totp.algorithm).toBe(TOTP_PARAMS.algorithm);
    expect(RFC.totp.period).toBe(TOTP_PARAMS.period);
  });

  it.each(RFC.totp.vectors)('at $unixSeconds s gives $totp (8 digits)', ({ unixSeconds, stepHex, totp }) => {
    const timestamp = unixSeconds * 1000;
    expect(Math.floor(unixSeconds / TOTP_PARAMS.period)).toBe(parseInt(stepHex, 16));
    expect(TOTP.generate({ ...TOTP_PARAMS, digits: RFC.totp.digits, secret, timestamp })).toBe(totp);
  });

  it.each(RFC.totp.vectors)('at $unixSeconds s the 6-digit truncation is accepted by matchingStep for its step', ({ unixSeconds, stepHex, totp }) => {
    // 6 digits are the last 6 of the 8: binary mod 10^6 = (binary mod 10^8) mod 10^6.
    const six = totp.slice(-6);
    expect(matchingStep(secret.base32, six, unixSeconds * 1000)).toBe(parseInt(stepHex, 16));
    expect(matchingStep(secret.base32, totp, unixSeconds * 1000)).toBeNull(); // the 8-digit form is not a code here
  });
});

describe('drift window: one step either side, at exact step boundaries', () => {
  const secret = new Secret({ size: 20 }).base32;
  const step = 58_000_000; // some step in 2025
  const edges = [
    { name: 'first millisecond of the step', now: step * STEP_MS },
    { name: 'last millisecond of the step', now: (step + 1) * STEP_MS - 1 },
  ];

  it('allows one step either side, no more', () => {
    expect(TOTP_WINDOW).toBe(1);
  });

  for (const { name, now } of edges) {
    it(`${name}: steps -1, 0 and +1 accepted, -2 and +2 refused`, () => {
      expect(matchingStep(secret, codeAt(secret, step - 1), now)).toBe(step - 1);
      expect(matchingStep(secret, codeAt(secret, step), now)).toBe(step);
      expect(matchingStep(secret, codeAt(secret, step + 1), now)).toBe(step + 1);
      for (const far of [step - 2, step + 2]) {
        const code = codeAt(secret, far);
        // A coincidence of two steps' codes (1 in 10^6) would make this test lie; rule it out.
        if ([step - 1, step, step + 1].some((s) => codeAt(secret, s) === code)) continue;
        expect(matchingStep(secret, code, now)).toBeNull();
      }
    });
  }

  it('one millisecond across a boundary moves the window by a whole step', () => {
    const start = step * STEP_MS;
    expect(matchingStep(secret, codeAt(secret, step - 2), start - 1)).toBe(step - 2);
    expect(matchingStep(secret, codeAt(secret, step + 1), start - 1)).toBeNull();
    expect(matchingStep(secret, codeAt(secret, step - 2), start)).toBeNull();
    expect(matchingStep(secret, codeAt(secret, step + 1), start)).toBe(step + 1);
  });

  it('refuses anything that is not 6 digits', () => {
    const now = step * STEP_MS;
    const code = codeAt(secret, step);
    for (const bad of ['', code.slice(1), `${code}0`, ` ${code}`, code.replace(/\d$/, 'x'), 'abcdef', '１２３４５６']) {
      expect(matchingStep(secret, bad, now)).toBeNull();
    }
  });
});

describe('TOTP authenticators in the database', () => {
  let h: Harness;
  let f: TestFirm;
  const clock = new ManualClock(Date.UTC(2026, 2, 2, 9, 0, 0));
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness({ clock });
    f = await firmWithAdmin(h, 'totp-firm');
  });
  afterAll(() => h.close());

  /** A user with one confirmed TOTP authenticator; returns its id and secret. */
  async function enrolled() {
    const user = await addUser(h, f.firm.id, { name: `Tina ${++seq}`, email: `tina-${seq}@example.com`, kind: 'case_manager' }, null);
    const started = await beginTotpEnrollment(h.ctx, h.ctx.db, { id: user.id, firm_id: f.firm.id, email: user.email }, f.firm.name);
    await h.ctx.db.updateTable('authenticators').set({ status: 'active', confirmed_at: clock.now() }).where('id', '=', started.authenticatorId).execute();
    return { user, ...started };
  }
  const stepNow = () => Math.floor(clock.now() / STEP_MS);
  const check = (id: string, code: string) => h.ctx.db.transaction().execute((tx) => checkTotpCode(h.ctx, tx, id, code));

  it('accepts each step (a time step is a code) once: the same code again is a replay', async () => {
    const a = await enrolled();
    const code = codeAt(a.secret, stepNow());
    expect(await check(a.authenticatorId, code)).toEqual({ ok: true, authenticatorId: a.authenticatorId });
    expect(await check(a.authenticatorId, code)).toEqual({ ok: false, reason: 'replay' });
    const row = await h.ctx.db.selectFrom('totp_authenticators').selectAll().where('authenticator_id', '=', a.authenticatorId).executeTakeFirstOrThrow();
    expect(row.last_step).toBe(stepNow());
  });

  it('refuses an older step after a newer one (both inside the window)', async () => {
    const a = await enrolled();
    const now = stepNow();
    expect((await check(a.authenticatorId, codeAt(a.secret, now + 1))).ok).toBe(true);
    expect(await check(a.authenticatorId, codeAt(a.secret, now))).toEqual({ ok: false, reason: 'replay' });
    expect(await check(a.authenticatorId, codeAt(a.secret, now - 1))).toEqual({ ok: false, reason: 'replay' });
    // The next step, once the clock gets there, works.
    clock.advance(2 * STEP_MS);
    expect((await check(a.authenticatorId, codeAt(a.secret, stepNow()))).ok).toBe(true);
  });

  it('refuses a wrong code as wrong, not as a replay, and records nothing', async () => {
    const a = await enrolled();
    const right = codeAt(a.secret, stepNow());
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    expect(await check(a.authenticatorId, wrong)).toEqual({ ok: false, reason: 'wrong' });
    const row = await h.ctx.db.selectFrom('totp_authenticators').select('last_step').where('authenticator_id', '=', a.authenticatorId).executeTakeFirstOrThrow();
    expect(row.last_step).toBeNull();
  });

  it('accepts one of two concurrent submissions of one code, exactly', async () => {
    for (let round = 0; round < 5; round++) {
      const a = await enrolled();
      const code = codeAt(a.secret, stepNow());
      const user = { id: a.user.id, firm_id: f.firm.id };
      const results = await Promise.all([0, 1].map(() => h.ctx.db.transaction().execute((tx) => totpFactor.verify(h.ctx, tx, user, code))));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok)).toEqual([{ ok: false, reason: 'replay' }]);
    }
  });

  it('makes the otpauth URI every common app reads: issuer = firm name, account = email, SHA1, 6 digits, 30 s, a 160-bit base32 secret', async () => {
    const a = await enrolled();
    const uri = new URL(a.otpauthUri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe(`/${f.firm.name}:${a.user.email}`);
    expect(Object.fromEntries(uri.searchParams)).toEqual({ issuer: f.firm.name, secret: a.secret, algorithm: 'SHA1', digits: '6', period: '30' });
    expect(a.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(Secret.fromBase32(a.secret).bytes).toHaveLength(20);
    expect(otpauthUri(f.firm.name, a.user.email, a.secret)).toBe(a.otpauthUri);
    expect(a.qrSvg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  });

  it('keeps the secret sealed (AES-256-GCM, with its key id), bound to its authenticator', async () => {
    const a = await enrolled();
    const b = await enrolled();
    const rowA = await h.ctx.db.selectFrom('totp_authenticators').selectAll().where('authenticator_id', '=', a.authenticatorId).executeTakeFirstOrThrow();
    expect(rowA.secret_enc).not.toContain(a.secret);
    expect(rowA.secret_enc).toMatch(/^v1\.test\.[\w-]+\.[\w-]+$/);
    expect(h.ctx.secrets.open(rowA.secret_enc, a.authenticatorId).toString()).toBe(a.secret);

    // Copied onto another authenticator's row, the sealed value does not open there.
    expect(() => h.ctx.secrets.open(rowA.secret_enc, b.authenticatorId)).toThrow();
    await h.ctx.db.updateTable('totp_authenticators').set({ secret_enc: rowA.secret_enc }).where('authenticator_id', '=', b.authenticatorId).execute();
    await expect(check(b.authenticatorId, codeAt(a.secret, stepNow()))).rejects.toThrow();
    const rowB = await h.ctx.db.selectFrom('totp_authenticators').select('last_step').where('authenticator_id', '=', b.authenticatorId).executeTakeFirstOrThrow();
    expect(rowB.last_step).toBeNull();
  });

  it('answers "wrong" for an authenticator id that has no secret', async () => {
    expect(await check(randomUUID(), '123456')).toEqual({ ok: false, reason: 'wrong' });
  });
});
