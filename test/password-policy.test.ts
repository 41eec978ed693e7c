import { describe, expect, it } from 'vitest';
import { checkPasswordPolicy, hashPassword, verifyPassword } from '../src/core/passwords.js';

const code = (fn: () => void) => {
  try {
    fn();
    return 'OK';
  } catch (e) {
    return (e as { code: string }).code;
  }
};

describe('password policy (NIST SP 800-63B)', () => {
  it('needs at least 8 characters, counted as code points', () => {
    expect(code(() => checkPasswordPolicy('short12'))).toBe('PASSWORD_TOO_SHORT');
    expect(code(() => checkPasswordPolicy('ünïcödé!'))).toBe('OK');
    expect(code(() => checkPasswordPolicy('🔑🔑🔑🔑🔑🔑🔑'))).toBe('PASSWORD_TOO_SHORT'); // 7 emoji = 14 UTF-16 units
  });

  it('allows at most 128 characters', () => {
    expect(code(() => checkPasswordPolicy('x'.repeat(128) + 'y'))).toBe('PASSWORD_TOO_LONG');
    expect(code(() => checkPasswordPolicy('long passphrase '.repeat(8)))).toBe('OK');
  });

  it('has no composition rules', () => {
    expect(code(() => checkPasswordPolicy('all lower case words here'))).toBe('OK');
    expect(code(() => checkPasswordPolicy('84736291057'))).toBe('OK');
  });

  it('refuses common passwords from the bundled list, in any case', () => {
    for (const p of ['password', 'Password1', '12345678', 'qwertyuiop', 'iloveyou', 'BASEBALL']) {
      expect(code(() => checkPasswordPolicy(p)), p).toBe('PASSWORD_TOO_COMMON');
    }
  });

  it('refuses the account address and its local part', () => {
    expect(code(() => checkPasswordPolicy('jane.doe@firm.example', { email: 'jane.doe@firm.example' }))).toBe('PASSWORD_TOO_COMMON');
    expect(code(() => checkPasswordPolicy('JANE.DOE.X', { email: 'jane.doe.x@firm.example' }))).toBe('PASSWORD_TOO_COMMON');
  });
});

describe('password hashing', () => {
  it('is argon2id with at least m=19 MiB, t=2, and verifies', async () => {
    const h = await hashPassword('correct horse battery staple');
    expect(h).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(h, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(h, 'correct horse battery stapler')).toBe(false);
  });

  it('normalises to NFKC, so the same password typed on another keyboard matches', async () => {
    const h = await hashPassword('cafe\u0301 au lait');
    expect(await verifyPassword(h, 'caf\u00e9 au lait')).toBe(true);
  });

  it('never accepts a missing hash, even for a password that matches the dummy', async () => {
    expect(await verifyPassword(null, 'anything at all')).toBe(false);
    expect(await verifyPassword('not-a-hash', 'anything at all')).toBe(false);
  });
});
