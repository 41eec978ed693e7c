import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_CODE_COUNT, backupCodeFactor, issueBackupCodes, normaliseBackupCode, unusedBackupCodes } from '../src/factors/backup-codes/backup-codes.factor.js';
import { factorFor } from '../src/factors/registry.js';
import { addUser, firmWithAdmin, startHarness, type Harness, type TestFirm } from './support/harness.js';

/**
 * Backup codes (issue 4.4): ten single-use codes shown once, typed forgivingly, stored as
 * keyed hashes; a new set voids the old one.
 */
describe('backup codes', () => {
  let h: Harness;
  let f: TestFirm;
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness();
    f = await firmWithAdmin(h, 'backup-firm');
  });
  afterAll(() => h.close());

  async function userWithCodes() {
    const user = await addUser(h, f.firm.id, { name: `Bea ${++seq}`, email: `bea-${seq}@example.com`, kind: 'case_manager' }, null);
    const codes = await issueBackupCodes(h.ctx, h.ctx.db, { id: user.id, firm_id: f.firm.id });
    return { user: { id: user.id, firm_id: f.firm.id }, codes };
  }
  const verify = (user: { id: string; firm_id: string }, code: string) =>
    h.ctx.db.transaction().execute((tx) => backupCodeFactor.verify(h.ctx, tx, user, code));

  it('is the registry\'s backup_code factor', () => {
    expect(factorFor('backup_code')).toBe(backupCodeFactor);
  });

  it('issues 10 distinct codes of the form XXXXX-XXXXX', async () => {
    const { user, codes } = await userWithCodes();
    expect(BACKUP_CODE_COUNT).toBe(10);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
    expect(await unusedBackupCodes(h.ctx.db, user)).toBe(10);
    expect(await backupCodeFactor.available(h.ctx.db, user)).toBe(true);
  });

  it('accepts each code once; a used one is refused as a replay', async () => {
    const { user, codes } = await userWithCodes();
    for (const [i, code] of codes.entries()) {
      expect(await verify(user, code)).toEqual({ ok: true, authenticatorId: null });
      expect(await unusedBackupCodes(h.ctx.db, user)).toBe(9 - i);
      expect(await verify(user, code)).toEqual({ ok: false, reason: 'replay' });
    }
    expect(await backupCodeFactor.available(h.ctx.db, user)).toBe(false);
  });

  it('accepts a code typed in lower case, with spaces, or without the dash', async () => {
    const { user, codes } = await userWithCodes();
    const [a, b, c, d] = codes as [string, string, string, string];
    expect((await verify(user, a.toLowerCase())).ok).toBe(true);
    expect((await verify(user, ` ${b.slice(0, 3)} ${b.slice(3)} `)).ok).toBe(true);
    expect((await verify(user, c.replace('-', ''))).ok).toBe(true);
    expect((await verify(user, `${d.slice(0, 5).toLowerCase()} - ${d.slice(6)}`)).ok).toBe(true);
    // Crockford's look-alikes: O for 0 and I/L for 1 are what the user meant.
    expect(normaliseBackupCode('o1il-ABCDE')).toBe('0111ABCDE');
  });

  it('refuses wrong, short, long and foreign codes, and another user\'s code', async () => {
    const { user, codes } = await userWithCodes();
    const other = await userWithCodes();
    const code = codes[0]!;
    for (const bad of ['', code.slice(0, -1), `${code}A`, 'ZZZZZ-ZZZZZ', '12345-67890', '!!!!!-!!!!!', other.codes[0]!]) {
      expect(await verify(user, bad), bad).toEqual({ ok: false, reason: 'wrong' });
    }
    expect(await unusedBackupCodes(h.ctx.db, user)).toBe(10);
    expect(await unusedBackupCodes(h.ctx.db, other.user)).toBe(10);
  });

  it('voids the old set when a new one is issued', async () => {
    const { user, codes: old } = await userWithCodes();
    expect((await verify(user, old[0]!)).ok).toBe(true);
    const fresh = await issueBackupCodes(h.ctx, h.ctx.db, { id: user.id, firm_id: f.firm.id });
    expect(fresh.some((c) => old.includes(c))).toBe(false);
    for (const c of old.slice(1)) expect(await verify(user, c)).toEqual({ ok: false, reason: 'wrong' });
    expect(await unusedBackupCodes(h.ctx.db, user)).toBe(10);
    expect((await verify(user, fresh[3]!)).ok).toBe(true);
  });

  it('stores keyed hashes, never the codes', async () => {
    const { user, codes } = await userWithCodes();
    const rows = await h.ctx.db.selectFrom('backup_codes').selectAll().where('user_id', '=', user.id).execute();
    expect(rows).toHaveLength(10);
    const stored = JSON.stringify(rows);
    for (const c of codes) {
      expect(stored).not.toContain(c);
      expect(stored).not.toContain(normaliseBackupCode(c));
    }
    for (const r of rows) {
      // HMAC-SHA256 of the code, sealed under the current master key and bound to its row (rotation re-seals it).
      expect(r.code_hash).toMatch(/^v1\.test\.[\w-]{16}\.[\w-]{64}$/);
      expect(h.ctx.secrets.open(r.code_hash, r.id)).toHaveLength(32);
      expect(r.key_id).toBe('test');
      expect(r.firm_id).toBe(f.firm.id);
      expect(r.used_at).toBeNull();
    }
    expect(new Set(rows.map((r) => r.code_hash)).size).toBe(10);
  });

  it('uses a code once even when two requests race with it', async () => {
    const { user, codes } = await userWithCodes();
    const results = await Promise.all([0, 1].map(() => verify(user, codes[0]!)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(await unusedBackupCodes(h.ctx.db, user)).toBe(9);
  });

  it('reset removes them all', async () => {
    const { user } = await userWithCodes();
    await backupCodeFactor.reset(h.ctx.db, user);
    expect(await unusedBackupCodes(h.ctx.db, user)).toBe(0);
  });
});
