import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { loggableUrl } from '../src/ops/logging.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { DeviceSimulator } from './support/device-simulator.js';
import { Agent, addUser, lastLinkTo, PASSWORD, startHarness, tokenOf, type Harness, totpCode } from './support/harness.js';
import { seedForProcess, type ProcessSeed } from './support/process-seed.js';

/**
 * Structured logs (issue 8.2) never contain a password, code, secret, token or cookie. The app
 * logs at `trace` (every request line Fastify writes) into a captured pino stream while real
 * logins run: passwords right and wrong, a one-time link, TOTP passcodes, backup codes, the
 * device API's signed requests (headers, and the stream's signature in the query), CSRF tokens
 * and session cookies, and the metrics bearer token. Not one of those strings may appear.
 */

const WRONG_PASSWORD = 'Wrong-Password-Nobody-Uses-42';
const NEW_PASSWORD = 'A brand new passphrase for the link 7';
const METRICS_TOKEN = 'metrics-token-for-the-log-test-0123456789';

describe('logs', () => {
  let database: TestDatabase;
  let seed: ProcessSeed;
  let h: Harness;
  const lines: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    seed = await seedForProcess(database); // the firms, users and enrolments
    h = await startHarness({
      shared: database,
      secrets: seed.h.ctx.secrets,
      clock: seed.h.clock, // one clock for both apps: throttling and push expiry compare their times
      env: { TESSERA_LOG_LEVEL: 'trace', TESSERA_METRICS_TOKEN: METRICS_TOKEN },
      logDestination: { write: (line) => void lines.push(line) },
    });
  });
  afterAll(async () => {
    await h.close();
    await seed.close();
    await database.drop();
  });

  it('hold no secret, through real logins with every factor and the device API', async () => {
    const secrets: string[] = [PASSWORD, WRONG_PASSWORD, NEW_PASSWORD, METRICS_TOKEN];
    const codes: string[] = [];

    // Password: wrong, then right; every cookie and CSRF token the server hands out.
    const plain = await seed.plainUser();
    const agent = new Agent(h.app);
    expect((await agent.post('/api/v1/login', { email: plain.email, password: WRONG_PASSWORD, firm: plain.slug })).statusCode).toBe(401);
    expect((await agent.post('/api/v1/login', { email: plain.email, password: PASSWORD, firm: plain.slug })).statusCode).toBe(200);
    expect((await agent.get('/api/v1/me')).statusCode).toBe(200);
    secrets.push(agent.csrf!, ...agent.cookies.values());

    // A one-time link (set your password).
    const newcomer = await addUser(seed.h, seed.plainFirm.firm.id, { name: 'Nina New', email: `nina-${Date.now()}@example.com`, kind: 'case_manager' }, null);
    const token = tokenOf(await lastLinkTo(seed.h, newcomer.email));
    secrets.push(token);
    const linkAgent = new Agent(h.app);
    expect((await linkAgent.post('/api/v1/password/inspect', { token })).statusCode).toBe(200);
    const set = await linkAgent.post('/api/v1/password/set', { token, password: NEW_PASSWORD });
    expect(set.statusCode, set.body).toBeLessThan(300);

    // TOTP: a right code, a replayed one, a wrong one; then backup codes, one of them used.
    const totp = await seed.totpUser();
    secrets.push(totp.secret);
    const mfa = new Agent(h.app);
    expect((await mfa.post('/api/v1/login', { email: totp.email, password: PASSWORD, firm: totp.slug })).json().next).toBe('second_factor');
    const code = totpCode(h, totp.secret);
    codes.push(code);
    expect((await mfa.post('/api/v1/mfa/verify', { method: 'totp', code: '999999' === code ? '999998' : '999999' })).statusCode).toBe(401);
    const ok = await mfa.post('/api/v1/mfa/verify', { method: 'totp', code });
    expect(ok.statusCode, ok.body).toBe(200);
    secrets.push(...mfa.cookies.values(), mfa.csrf!);
    const backup = await mfa.post('/api/v1/me/backup-codes');
    expect(backup.statusCode, backup.body).toBe(200);
    const backupCodes: string[] = backup.json().backupCodes;
    secrets.push(...backupCodes);
    const again = new Agent(h.app);
    expect((await again.post('/api/v1/login', { email: totp.email, password: PASSWORD, firm: totp.slug })).json().next).toBe('second_factor');
    expect((await again.post('/api/v1/mfa/verify', { method: 'backup_code', code: backupCodes[0] })).statusCode).toBe(200);

    // The device API: signed headers, a signed answer, and the stream signed in its query.
    const push = await seed.pushUser();
    push.device.app = h.app;
    h.clock.set(systemClock.now()); // the simulator signs with the system clock
    secrets.push(push.device.secret!);
    const browser = new Agent(h.app);
    expect((await browser.post('/api/v1/login', { email: push.email, password: PASSWORD, firm: push.slug })).json().next).toBe('second_factor');
    const started = await browser.post('/api/v1/mfa/push');
    expect(started.statusCode, started.body).toBe(201);
    const signed = await push.device.signatureHeaders('GET', '/api/v1/device/transactions', undefined);
    secrets.push(signed['x-tessera-signature']!);
    expect((await push.device.transactions()).statusCode).toBe(200);
    const streamUrl = await push.device.streamUrl();
    secrets.push(new URL(streamUrl, 'http://x').searchParams.get('sig')!);
    // A refused stream request (bad signature) still writes its request line: the query must be censored.
    expect((await h.app.inject({ method: 'GET', url: streamUrl.replace(/sig=[^&]+/, 'sig=' + 'A'.repeat(86)) })).statusCode).toBe(401);
    secrets.push('A'.repeat(86));
    const answer = await push.device.approve(started.json().transactionId, started.json().number);
    expect(answer.statusCode, answer.body).toBe(200);
    const answerBody = await push.device.sign(DeviceSimulator.answerString(started.json().transactionId, 'approve', undefined, started.json().number, h.clock.now()));
    secrets.push(answerBody);
    codes.push(push.device.passcode(h.clock.now()));

    // The metrics bearer token.
    expect((await h.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).statusCode).toBe(200);

    const log = lines.join('');
    expect(lines.length).toBeGreaterThan(30);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow(); // structured: one JSON object a line
    expect(log).toContain('"msg":"incoming request"');
    expect(log).toContain('/api/v1/device/stream?device=[redacted]&ts=[redacted]&sig=[redacted]');
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThanOrEqual(8);
      expect(log.includes(secret), `a secret is in the log: ${secret}`).toBe(false);
    }
    for (const c of codes) expect(new RegExp(`(?<![0-9])${c}(?![0-9])`).test(log), `a passcode is in the log: ${c}`).toBe(false);
  });

  it('redacts credential headers and body fields wherever a log call puts them', () => {
    lines.length = 0;
    h.app.log.error(
      {
        req: { headers: { cookie: 'tessera_session=cookie-secret-1', authorization: 'Bearer bearer-secret-2', 'x-csrf-token': 'csrf-secret-3', 'x-tessera-signature': 'sig-secret-4', 'user-agent': 'kept' } },
        body: { password: 'password-secret-5', code: '123456', token: 'token-secret-6', email: 'kept@example.com' },
        user: { secret: 'totp-secret-7' },
        err: { message: 'push failed', endpoint: 'https://push.example/capability-secret-8' },
      },
      'something failed',
    );
    const line = lines.join('');
    for (const s of ['cookie-secret-1', 'bearer-secret-2', 'csrf-secret-3', 'sig-secret-4', 'password-secret-5', '123456', 'token-secret-6', 'totp-secret-7', 'capability-secret-8']) {
      expect(line).not.toContain(s);
    }
    expect(line).toContain('kept@example.com');
    expect(line).toContain('[redacted]');
  });

  it('censors query values, keeps the names and the path', () => {
    expect(loggableUrl('/api/v1/device/stream?device=abc&ts=1&sig=xyz')).toBe('/api/v1/device/stream?device=[redacted]&ts=[redacted]&sig=[redacted]');
    expect(loggableUrl('/login?firm=acme')).toBe('/login?firm=[redacted]');
    expect(loggableUrl('/api/v1/me')).toBe('/api/v1/me');
  });
});
