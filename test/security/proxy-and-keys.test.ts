import { spawn } from 'node:child_process';
import { createECDH, createHmac, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findDuoIntegration } from '../../src/applications/application.lookup.js';
import { createApplication } from '../../src/applications/application.service.js';
import { systemActor } from '../../src/audit/audit.service.js';
import { HOUR, ManualClock } from '../../src/clock.js';
import { RESEAL_SECRETS_JOB, describeReseal, resealSecrets } from '../../src/crypto/reseal.job.js';
import { SecretBox, SecretUnavailable, keyIdOf } from '../../src/crypto/secret-box.js';
import { loadVapidKeysAtStart, vapidKeys } from '../../src/factors/push/web-push.js';
import { ensureSigningKeys, publishedKeys, providerJwks } from '../../src/oidc/keys.js';
import { normaliseBackupCode } from '../../src/factors/backup-codes/backup-codes.factor.js';
import { beginTotpEnrollment } from '../../src/factors/totp/totp.factor.js';
import { queueResealWhileKeysRetired } from '../../src/housekeeping.js';
import { projectRoot } from '../../src/http/paths.js';
import { PASSKEY_OPTIONS_POLICY } from '../../src/login/passkey.service.js';
import { runDueJobs } from '../../src/jobs/job.service.js';
import { IP_POLICY } from '../../src/core/throttle.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Agent, PASSWORD, addUser, auditEvents, startHarness, type Harness, type TestFirm } from '../support/harness.js';
import { apiRoutes, sampleOf } from '../support/security.js';
import { overHttp, startServerProcess } from '../support/server-process.js';
import { api, loginAs, mfaFirm } from '../support/fixtures.js';
import { freshCode, pushUser, sendPush, totpUser } from '../support/factors.js';

/**
 * Security review (issue 12), trusted proxies: the client's address behind a reverse proxy.
 *
 * With TESSERA_TRUST_PROXY=true Fastify trusted every hop, so the client's address was the
 * leftmost X-Forwarded-For entry, which the client writes itself. These tests put a real
 * reverse proxy (http-proxy-3, the proxy Vite uses, appending to X-Forwarded-For as nginx's
 * $proxy_add_x_forwarded_for does) in front of a listening Tessera, and send every request
 * through it over real HTTP with a forged X-Forwarded-For of its own.
 *
 * The proxy connects from 127.0.0.3 and the client from 127.0.0.1, so "the rightmost entry no
 * trusted proxy wrote" (127.0.0.1), the proxy's own address and the forged ones all differ.
 */

/** Where the proxy connects from (Linux answers on all of 127.0.0.0/8). */
const PROXY_ADDRESS = '127.0.0.3';
/** Where the client connects from: what the proxy appends to X-Forwarded-For. */
const CLIENT_ADDRESS = '127.0.0.1';
/** A forged address from TEST-NET-2, fresh per request. */
const forged = (i: number) => `198.51.100.${(i % 250) + 1}`;

describe.each([
  ['the proxy’s address', PROXY_ADDRESS],
  ['a hop count', '1'],
])('behind a reverse proxy, with TESSERA_TRUST_PROXY set to %s', (_how, trust) => {
  let h: Harness;
  let proxyServer: http.Server;
  let proxy: ProxyServer;
  /** The app as the proxy's clients reach it: real HTTP through the proxy. */
  let viaProxy: ReturnType<typeof overHttp>;
  let F: TestFirm;

  beforeAll(async () => {
    h = await startHarness({ env: { TESSERA_TRUST_PROXY: trust }, clock: new ManualClock(Date.UTC(2026, 8, 1, 9, 0, 0)) });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const target = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    proxy = createProxyServer({ target, xfwd: true, localAddress: PROXY_ADDRESS });
    proxyServer = http.createServer((req, res) => proxy.web(req, res));
    await new Promise<void>((resolve) => proxyServer.listen(0, '127.0.0.1', resolve));
    viaProxy = overHttp(`http://127.0.0.1:${(proxyServer.address() as AddressInfo).port}`);
    F = await mfaFirm(h, { licences: 20, enabled: 'staff' });
  });
  afterAll(async () => {
    await new Promise((resolve) => proxyServer?.close(resolve));
    proxy?.close();
    await h?.close();
  });
  // Each test starts with a clean per-address record: the throttle looks back one hour.
  afterEach(() => h.clock.advance(2 * HOUR));

  /** A browser at CLIENT_ADDRESS whose requests carry a forged X-Forwarded-For (the Agent sends its `ip` as that header over HTTP). */
  const forger = (i: number) => new Agent(viaProxy, { ip: forged(i) });

  it('a fresh X-Forwarded-For per request does not escape the address throttle (password spraying)', async () => {
    const startedAt = h.clock.now();
    for (let i = 0; i < IP_POLICY.freeFailures; i++) {
      // A different account each time: the per-account limit never trips, only the per-address one can.
      const res = await forger(i).post(api('/login'), { email: `spray-${i}@example.com`, password: 'Winter2026!', firm: F.firm.slug });
      expect(res.statusCode, res.body).toBe(401);
    }
    const held = await forger(IP_POLICY.freeFailures).post(api('/login'), { email: 'spray-last@example.com', password: 'Winter2026!', firm: F.firm.slug });
    expect(held.statusCode, held.body).toBe(429);
    expect(held.json().error).toBe('TOO_MANY_ATTEMPTS');
    expect(Number(held.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    // Every attempt was counted against, and logged with, the address the proxy saw.
    const attempts = await h.ctx.db.selectFrom('auth_attempts').select('key').where('scope', '=', 'ip').where('at', '>=', startedAt).execute();
    expect(new Set(attempts.map((a) => a.key))).toEqual(new Set([CLIENT_ADDRESS]));
    const failed = (await auditEvents(h, { event: 'login.failed' })).filter((e) => Number(e.at) >= startedAt);
    expect(failed).toHaveLength(IP_POLICY.freeFailures);
    for (const e of failed) expect(e.ip).toBe(CLIENT_ADDRESS);
  });

  it('a fresh X-Forwarded-For per request does not escape the address throttle of passkey sign-in (its only limit)', async () => {
    const verify = (await apiRoutes(h.app)).find((r) => r.key === 'POST /api/v1/passkey/verify')!;
    for (let i = 0; i < IP_POLICY.freeFailures; i++) {
      const res = await forger(i).post(api('/passkey/verify'), sampleOf(verify.body!) as Record<string, unknown>);
      expect(res.statusCode, res.body).toBe(401);
      expect(res.json().error).toBe('INVALID_CREDENTIALS');
    }
    const held = await forger(IP_POLICY.freeFailures).post(api('/passkey/verify'), sampleOf(verify.body!) as Record<string, unknown>);
    expect(held.statusCode, held.body).toBe(429);
    expect(held.json().error).toBe('TOO_MANY_ATTEMPTS');
  });

  it('a fresh X-Forwarded-For per request does not escape the address throttle of passkey sign-in options either', async () => {
    const startedAt = h.clock.now();
    for (let i = 0; i < PASSKEY_OPTIONS_POLICY.freeFailures; i++) {
      const res = await forger(i).post(api('/passkey/options'));
      expect(res.statusCode, res.body).toBe(200);
    }
    const held = await forger(PASSKEY_OPTIONS_POLICY.freeFailures).post(api('/passkey/options'));
    expect(held.statusCode, held.body).toBe(429);
    expect(held.json().error).toBe('TOO_MANY_ATTEMPTS');
    const counted = await h.ctx.db.selectFrom('auth_attempts').select('key').where('scope', '=', 'passkey_options').where('at', '>=', startedAt).execute();
    expect(new Set(counted.map((a) => a.key))).toEqual(new Set([CLIENT_ADDRESS]));
  });

  it('a forged X-Forwarded-For is not what the phone’s approval screen, the fraud mail or the audit log show', async () => {
    const p = await pushUser(h, F);
    const attacker = forger(7);
    const startedAt = h.clock.now();
    const res = await attacker.post(api('/login'), { email: p.user.email, password: PASSWORD, firm: F.firm.slug });
    expect(res.json().next, res.body).toBe('second_factor');
    const { transactionId } = await sendPush(attacker);

    const shown = await p.device.transactions();
    expect(shown.json().items).toEqual([expect.objectContaining({ id: transactionId, ip: CLIENT_ADDRESS })]);

    expect((await p.device.answer(transactionId, 'deny', { reason: 'fraud' })).json()).toEqual({ status: 'fraud' });
    const mail = await h.ctx.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', F.superuser.email).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
    expect(mail.text_body).toContain(`From: ${CLIENT_ADDRESS}`);
    expect(mail.text_body).not.toContain(forged(7));

    // The whole trail of the attack (password step, push sent, fraud report) names the client's address.
    const trail = (await auditEvents(h, { subjectId: p.user.id })).filter((e) => Number(e.at) >= startedAt);
    expect(trail.map((e) => e.event)).toEqual(expect.arrayContaining(['mfa.push_fraud']));
    expect(JSON.stringify(trail)).not.toContain(forged(7));
    for (const e of trail) if (e.ip !== null) expect(e.ip).toBe(CLIENT_ADDRESS);
  });

  // Straight to Tessera's port with a forged header: with an address list the peer is no trusted
  // proxy, so the header is not read at all. (A hop count cannot tell who the peer is: the README
  // says to use one only where nothing but the proxies reach the port.)
  if (trust === PROXY_ADDRESS) {
    it('a client that goes around the proxy cannot forge its address either', async () => {
      const direct = overHttp(`http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`);
      const res = await new Agent(direct, { ip: forged(9) }).post(api('/login'), { email: 'direct@example.com', password: 'Winter2026!', firm: F.firm.slug });
      expect(res.statusCode, res.body).toBe(401);
      const last = (await auditEvents(h, { event: 'login.failed' })).at(-1)!;
      expect(last.details).toMatchObject({ reason: expect.any(String) });
      expect(last.ip).toBe(CLIENT_ADDRESS);
    });
  }
});

describe('TESSERA_TRUST_PROXY at start', () => {
  it('TESSERA_TRUST_PROXY=true is refused at start with what to set instead', async () => {
    const start = startServerProcess({ env: { TESSERA_TRUST_PROXY: 'true', TESSERA_DATABASE_URL: 'sqlite::memory:' } });
    await expect(start).rejects.toThrow(/exited during start \(2\)[\s\S]*TESSERA_TRUST_PROXY[\s\S]*addresses or CIDRs of your proxies[\s\S]*how many proxies/);
  }, 60_000);
});

/**
 * Security review (issue 12), master-key rotation: every value sealed under a retired key is
 * re-sealed (on use and by the job), so that the rotation can end with "remove the old key"
 * without breaking anyone or the start. Each "process" is a harness on one shared database with
 * its own SecretBox: the key configuration a node would have.
 */

const keyOf = (key: Buffer) => ({ id: keyIdOf(key), key });
/** The master keys of one process: the current key first, then the retired ones. */
const keys = (current: Buffer, ...retired: Buffer[]) => new SecretBox(keyOf(current), retired.map(keyOf));
/** Whether a stored value is sealed under this key (the format names the key id). */
const sealedUnder = (key: Buffer) => new RegExp(`^v1\\.${keyIdOf(key)}\\.`);

/**
 * One rotation from OLD to NEW on a database of its own, and the "processes" on it; each
 * process is stopped before the next starts, as on a restart (two at once where a test says so).
 */
function rotation(startsAt: number) {
  const clock = new ManualClock(startsAt);
  const OLD = randomBytes(32);
  const NEW = randomBytes(32);
  let database: TestDatabase;
  const running = new Set<Harness>();
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    for (const h of running) await h.close();
    await database?.drop();
  });
  const r = {
    clock,
    OLD,
    NEW,
    get database() {
      return database;
    },
    async start(secrets: SecretBox, env: Record<string, string> = {}, logDestination?: { write(line: string): void }): Promise<Harness> {
      const h = await startHarness({ shared: database, clock, secrets, env, logDestination });
      running.add(h);
      return h;
    },
    async stop(h: Harness): Promise<void> {
      running.delete(h);
      await h.close();
    },
    /** Before the rotation, under OLD: an MFA firm, a user with an authenticator app and backup codes, the Web Push keys. */
    async sealedUnderOld() {
      const before = await r.start(keys(OLD));
      const f = await mfaFirm(before);
      const t = await totpUser(before, f);
      const vapid = await vapidKeys(before.ctx);
      return { before, f, t, vapid };
    },
  };
  return r;
}

/** A sign-in finished by its second factor. */
function signedIn(res: LightMyRequestResponse) {
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json()).toEqual({ next: 'home' });
}

/** Backup codes as they were stored before sealing: the bare HMAC under the master key's derived key (the format of earlier releases). */
async function storeCodesTheOldWay(h: Harness, userId: string, firmId: string, master: Buffer): Promise<string[]> {
  const macKey = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'tessera backup-code', 32));
  const codes = ['ABCDE-FGHJK', 'MNPQR-STVWX'];
  await h.ctx.db.deleteFrom('backup_codes').where('user_id', '=', userId).execute();
  for (const code of codes) {
    const mac = createHmac('sha256', macKey).update(normaliseBackupCode(code)).digest('base64url');
    await h.ctx.db
      .insertInto('backup_codes')
      .values({ id: randomUUID(), firm_id: firmId, user_id: userId, code_hash: mac, key_id: keyIdOf(master), created_at: h.clock.now(), used_at: null })
      .execute();
  }
  return codes;
}

/** Every stored sealed value: TOTP and device secrets, server keys (VAPID, kept MAC keys), backup codes, applications' secrets. */
async function sealedValues(h: Harness): Promise<{ where: string; aad: string; value: string }[]> {
  const totp = await h.ctx.db.selectFrom('totp_authenticators').select(['authenticator_id', 'secret_enc']).execute();
  const server = await h.ctx.db.selectFrom('server_keys').select(['name', 'value']).where('name', '!=', 'vapid_public_key').execute();
  const codes = await h.ctx.db.selectFrom('backup_codes').select(['id', 'code_hash']).execute();
  const apps = await h.ctx.db.selectFrom('applications').select(['id', 'secret', 'previous_secret']).execute();
  const oidcKeys = await h.ctx.db.selectFrom('oidc_signing_keys').select(['kid', 'private_jwk']).execute();
  return [
    ...oidcKeys.map((r) => ({ where: `OIDC signing key ${r.kid}`, aad: `oidc_signing_key:${r.kid}`, value: r.private_jwk })),
    ...apps.flatMap((r) => [r.secret, r.previous_secret].filter((v) => v !== null).map((value) => ({ where: `application ${r.id}`, aad: r.id, value }))),
    ...totp.map((r) => ({ where: `totp ${r.authenticator_id}`, aad: r.authenticator_id, value: r.secret_enc })),
    ...server.map((r) => ({ where: `server key ${r.name}`, aad: r.name, value: r.value })),
    ...codes.map((r) => ({ where: `backup code ${r.id}`, aad: r.id, value: r.code_hash })),
  ];
}

describe('master-key rotation, finished', () => {
  const p = rotation(Date.UTC(2026, 8, 2, 9, 0, 0));
  const { clock, OLD, NEW } = p;
  let F: TestFirm;
  let t: Awaited<ReturnType<typeof totpUser>>;
  let phone: Awaited<ReturnType<typeof pushUser>>;
  let old: { user: { id: string; email: string }; codes: string[] };
  let vapidBefore: { publicKey: string; privateKey: string };
  let duo: { ikey: string; skey: string };

  beforeAll(async () => {
    // Before the rotation: everything sealed under OLD.
    const { before, f, t: app, vapid } = await p.sealedUnderOld();
    [F, t, vapidBefore] = [f, app, vapid];
    phone = await pushUser(before, F);
    const oldUser = await totpUser(before, F);
    old = { user: oldUser.user, codes: await storeCodesTheOldWay(before, oldUser.user.id, F.firm.id, OLD) };
    const created = await createApplication(before.ctx, before.ctx.db, systemActor, F.firm.id, { type: 'duo_auth_api', name: 'VPN' });
    duo = { ikey: created.application.clientId, skey: created.secret! };
    await ensureSigningKeys(before.ctx);
    for (const v of await sealedValues(before)) if (v.value.startsWith('v1.')) expect(v.value, v.where).toMatch(sealedUnder(OLD));
    await p.stop(before);

    // The rotation: NEW current, OLD retired; the start queues the re-seal job and a worker runs it.
    const rotated = await p.start(keys(NEW, OLD));
    await queueResealWhileKeysRetired(rotated.ctx);
    expect(await runDueJobs(rotated.ctx)).toBeGreaterThanOrEqual(1);
    const job = await rotated.ctx.db.selectFrom('jobs').selectAll().where('kind', '=', RESEAL_SECRETS_JOB).executeTakeFirstOrThrow();
    expect(job.status, job.last_error ?? '').toBe('done');
    await p.stop(rotated);
  });

  it('the re-seal job leaves every sealed value under the new key, the MAC key of the old codes kept under it too', async () => {
    const h = await p.start(keys(NEW));
    const values = await sealedValues(h);
    expect(values.map((v) => v.where)).toEqual(expect.arrayContaining([`server key vapid_private_key`, `server key backup_code_key:${keyIdOf(OLD)}`]));
    for (const v of values) {
      expect(v.value, v.where).toMatch(sealedUnder(NEW));
      expect(() => h.ctx.secrets.open(v.value, v.aad), v.where).not.toThrow();
    }
    expect((await resealSecrets(h.ctx)).left).toBe(0);
    // An application's secret key, sealed under OLD, opens under NEW alone.
    expect((await findDuoIntegration(h.ctx.db, h.ctx.secrets, duo.ikey, h.clock))?.secretKeys).toEqual([duo.skey]);
    // And the OpenID Provider's signing keys (ES256 and RS256) open under NEW alone.
    expect(values.filter((v) => v.where.startsWith('OIDC signing key'))).toHaveLength(2);
    expect(providerJwks(h.ctx, await publishedKeys(h.ctx.db, h.clock.now()), h.clock.now()).keys).toHaveLength(2);
    await p.stop(h);
  });

  it('a restart with the old key removed signs in with TOTP, a device passcode, a push and a backup code, and loads the Web Push keys', async () => {
    const h = await p.start(keys(NEW));
    const logged: string[] = [];
    const vapid = await loadVapidKeysAtStart(h.ctx, (message) => logged.push(message));
    expect(logged).toEqual([]);
    expect(vapid).toEqual(vapidBefore);
    // The private key opened is the one the published public key belongs to.
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(vapid!.privateKey, 'base64url'));
    expect(ecdh.getPublicKey().toString('base64url')).toBe(vapid!.publicKey);

    signedIn(await (await loginAs(h, F, t.user, 'second_factor')).post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, t.secret) }));

    phone.device.app = h.app;
    clock.advance(30_000);
    signedIn(await (await loginAs(h, F, phone.user, 'second_factor')).post(api('/mfa/verify'), { method: 'totp', code: phone.device.passcode() }));

    const pushing = await loginAs(h, F, phone.user, 'second_factor');
    const push = await sendPush(pushing);
    expect((await phone.device.approve(push.transactionId, push.number)).json()).toEqual({ status: 'approved' });
    expect((await pushing.get(api(`/mfa/push/${push.transactionId}/wait`))).json()).toEqual({ status: 'approved' });

    signedIn(await (await loginAs(h, F, t.user, 'second_factor')).post(api('/mfa/verify'), { method: 'backup_code', code: t.backupCodes[0] }));
    // A code stored the old way (bare MAC under OLD) too: sealed by the job, checked with the kept MAC key.
    signedIn(await (await loginAs(h, F, old.user, 'second_factor')).post(api('/mfa/verify'), { method: 'backup_code', code: old.codes[1] }));
    await p.stop(h);
  });

  it('after the re-seal, a leaked retired key opens nothing in a new copy of the database', async () => {
    const h = await p.start(keys(NEW));
    const leaked = keys(OLD);
    const values = await sealedValues(h);
    expect(values.length).toBeGreaterThanOrEqual(6);
    // Not a TOTP seed, not the Web Push key, not a backup code's MAC (to brute-force its 50 bits), not the kept MAC key.
    for (const v of values) expect(() => leaked.open(v.value, v.aad), v.where).toThrow(SecretUnavailable);
    await p.stop(h);
  });
});

describe('master-key rotation, with several processes', () => {
  const p = rotation(Date.UTC(2026, 8, 3, 9, 0, 0));
  const { OLD, NEW } = p;

  it('two processes re-sealing at once, and a sign-in re-sealing on use, re-seal each value once and lose none', async () => {
    const before = await p.start(keys(OLD));
    const f = await mfaFirm(before);
    const secrets = new Map<string, string>();
    for (let i = 0; i < 24; i++) {
      const user = await addUser(before, f.firm.id, { name: `Rota ${i}`, email: `rota-${i}@${f.firm.slug}.example`, kind: 'case_manager' }, null);
      const started = await beginTotpEnrollment(before.ctx, before.ctx.db, { id: user.id, firm_id: f.firm.id, email: user.email }, 'Tessera');
      secrets.set(started.authenticatorId, started.secret);
    }
    const signer = await totpUser(before, f);
    secrets.set(signer.authenticatorId, signer.secret);
    await p.stop(before);

    const a = await p.start(keys(NEW, OLD));
    const b = await p.start(keys(NEW, OLD));
    const [ra, rb, login] = await Promise.all([
      resealSecrets(a.ctx),
      resealSecrets(b.ctx),
      loginAs(b, f, signer.user, 'second_factor').then((agent) => agent.post(api('/mfa/verify'), { method: 'totp', code: freshCode(b, signer.secret) })),
    ]);
    signedIn(login);
    const totpOf = (r: typeof ra) => r.columns.find((c) => c.label === 'TOTP and device passcode secrets')!;
    // Each row was swapped by exactly one writer (a conditional UPDATE on the value read); the on-use re-seal may have taken one.
    expect(totpOf(ra).resealed + totpOf(rb).resealed).toBeGreaterThanOrEqual(secrets.size - 1);
    expect(totpOf(ra).resealed + totpOf(rb).resealed).toBeLessThanOrEqual(secrets.size);
    expect(ra.left + rb.left).toBe(0);
    await p.stop(a);
    await p.stop(b);

    const after = await p.start(keys(NEW));
    const rows = await after.ctx.db.selectFrom('totp_authenticators').select(['authenticator_id', 'secret_enc']).execute();
    expect(rows).toHaveLength(secrets.size);
    for (const r of rows) {
      expect(r.secret_enc).toMatch(sealedUnder(NEW));
      expect(after.ctx.secrets.open(r.secret_enc, r.authenticator_id).toString()).toBe(secrets.get(r.authenticator_id));
    }
    await p.stop(after);
  });
});

describe('master-key rotation, on use', () => {
  const p = rotation(Date.UTC(2026, 8, 5, 9, 0, 0));
  const { OLD, NEW } = p;

  it('what a sign-in or a start opens under a retired key is written back under the current key, before any job runs', async () => {
    const { before, f, t } = await p.sealedUnderOld();
    await p.stop(before);

    const h = await p.start(keys(NEW, OLD));
    expect(await loadVapidKeysAtStart(h.ctx, () => undefined)).not.toBeNull();
    signedIn(await (await loginAs(h, f, t.user, 'second_factor')).post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, t.secret) }));
    signedIn(await (await loginAs(h, f, t.user, 'second_factor')).post(api('/mfa/verify'), { method: 'backup_code', code: t.backupCodes[0] }));
    expect(await h.ctx.db.selectFrom('jobs').select('id').where('kind', '=', RESEAL_SECRETS_JOB).execute()).toEqual([]);

    const values = await sealedValues(h);
    expect(values.map((v) => v.where)).toEqual(expect.arrayContaining([`totp ${t.authenticatorId}`, 'server key vapid_private_key', `server key backup_code_key:${keyIdOf(OLD)}`]));
    for (const v of values) expect(v.value, v.where).toMatch(sealedUnder(NEW));
    await p.stop(h);
  });
});

/** `node src/server.ts --reseal` with these keys on the shared database: its exit code and output. */
function runReseal(database: TestDatabase, current: Buffer, retired: Buffer[]): Promise<{ code: number | null; output: string }> {
  const url = database.config.kind === 'postgres' ? database.config.url : `sqlite:${database.config.file}`;
  const env = {
    PATH: process.env.PATH ?? '',
    TESSERA_DATABASE_URL: url,
    TESSERA_MASTER_KEY: current.toString('base64'),
    TESSERA_RETIRED_MASTER_KEYS: retired.map((k) => k.toString('base64')).join(','),
    TESSERA_LOG_LEVEL: 'silent',
  };
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot(), 'src', 'server.ts'), '--reseal'], { cwd: projectRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  // A signal (code null) is named in the output, so a failure says what ended the process.
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, output: signal ? `${output}\n[ended by ${signal}]` : output })));
}

describe('master-key rotation, the old key removed too early', () => {
  const p = rotation(Date.UTC(2026, 8, 4, 9, 0, 0));
  const { OLD, NEW } = p;

  it('a secret no configured key opens answers SECRET_UNAVAILABLE (503), counts no failure, and leaves the start and the Web Push public key up', async () => {
    const { before, f, t, vapid } = await p.sealedUnderOld();
    const publicKey = vapid.publicKey;
    await p.stop(before);

    // OLD removed without the re-seal.
    const lines: string[] = [];
    const h = await p.start(keys(NEW), { TESSERA_LOG_LEVEL: 'error' }, { write: (line) => void lines.push(line) });
    const logged: string[] = [];
    expect(await loadVapidKeysAtStart(h.ctx, (message) => logged.push(message))).toBeNull();
    expect(logged).toEqual([expect.stringContaining(`master key ${keyIdOf(OLD)}`)]);
    expect((await h.app.inject({ method: 'GET', url: api('/device/vapid-public-key') })).json()).toEqual({ key: publicKey });

    const agent = await loginAs(h, f, t.user, 'second_factor');
    for (const body of [
      { method: 'totp', code: freshCode(h, t.secret) },
      { method: 'backup_code', code: t.backupCodes[0] },
    ]) {
      const res = await agent.post(api('/mfa/verify'), body);
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json()).toEqual({ error: 'SECRET_UNAVAILABLE', message: expect.stringContaining('TESSERA_RETIRED_MASTER_KEYS') });
    }
    // Nothing was checked, so nothing counts toward the lockout, and no code was used up.
    const row = await h.ctx.db.selectFrom('users').select('mfa_failed_count').where('id', '=', t.user.id).executeTakeFirstOrThrow();
    expect(Number(row.mfa_failed_count)).toBe(0);
    expect(await h.ctx.db.selectFrom('backup_codes').select('id').where('user_id', '=', t.user.id).where('used_at', 'is not', null).execute()).toEqual([]);
    // The operator's log names the key that is missing.
    const errors = lines.map((l) => JSON.parse(l) as { err?: { code?: string; keyId?: string } }).filter((l) => l.err?.code === 'SECRET_UNAVAILABLE');
    expect(errors.length).toBe(2);
    for (const e of errors) expect(e.err!.keyId).toBe(keyIdOf(OLD));
    expect(describeReseal(await resealSecrets(h.ctx)).join('\n')).toContain(`under key ${keyIdOf(OLD)}`);
    await p.stop(h);
  });

  it('`--reseal` says what is left under a missing key, re-seals once the key is back, and then says it may go', async () => {
    const refused = await runReseal(p.database, NEW, []);
    expect(refused.code, refused.output).toBe(1);
    expect(refused.output).toContain(`under key ${keyIdOf(OLD)}`);
    expect(refused.output).toContain('keep the retired keys configured');

    const done = await runReseal(p.database, NEW, [OLD]);
    expect(done.code, done.output).toBe(0);
    expect(done.output).toContain('the retired keys can be removed from TESSERA_RETIRED_MASTER_KEYS');

    const h = await p.start(keys(NEW));
    expect(await loadVapidKeysAtStart(h.ctx, () => undefined)).not.toBeNull();
    for (const v of await sealedValues(h)) expect(v.value, v.where).toMatch(sealedUnder(NEW));
    await p.stop(h);
  }, 120_000);
});

describe('sealing itself', () => {
  const box = keys(randomBytes(32));
  const parts = (sealed: string) => sealed.split('.') as [string, string, string, string];

  it('a truncated GCM tag, an IV of another length or a stray character does not open a sealed value', () => {
    // An empty secret: its body is the 16-byte tag alone, the case where an unpinned decipher took
    // whatever was left as a (shorter, easier to forge) tag.
    const [v, id, iv, body] = parts(box.seal('', 'row-1'));
    expect(box.open([v, id, iv, body].join('.'), 'row-1').length).toBe(0);
    const tag = Buffer.from(body, 'base64url');
    for (const bytes of [12, 8, 4]) {
      expect(() => box.open([v, id, iv, tag.subarray(0, bytes).toString('base64url')].join('.'), 'row-1'), `${bytes}-byte tag`).toThrow(SecretUnavailable);
    }

    const [, , iv2, body2] = parts(box.seal('JBSWY3DPEHPK3PXP', 'row-2'));
    const longIv = Buffer.concat([Buffer.from(iv2, 'base64url'), Buffer.alloc(4)]).toString('base64url');
    expect(() => box.open([v, id, longIv, body2].join('.'), 'row-2')).toThrow(SecretUnavailable);
    expect(() => box.open([v, id, iv2, `${body2.slice(0, 10)}*${body2.slice(10)}`].join('.'), 'row-2')).toThrow(SecretUnavailable);
    expect(() => box.open([v, id, iv2, body2].join('.'), 'row-3')).toThrow(SecretUnavailable);
    expect(box.open([v, id, iv2, body2].join('.'), 'row-2').toString()).toBe('JBSWY3DPEHPK3PXP');
  });
});
