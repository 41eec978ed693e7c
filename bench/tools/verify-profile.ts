/**
 * In-process cost of one passcode verification (no network, no load generator): builds the
 * app on a fresh SQLite database, seeds enrolled users with pending logins, and times
 * sequential POST /api/v1/mfa/verify through app.inject. Profile the verification loop alone
 * (not the seeding) with --profile <file.cpuprofile>:
 *   npx tsc -p tsconfig.bench.json --outDir dist && node dist/bench/tools/verify-profile.js [users] [--profile out.cpuprofile]
 * Also prints how much of each verification is SQLite itself executing the statements (time
 * inside better-sqlite3's native run/get/all, per SQL text): the floor no code of ours can lower.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import SQLite from 'better-sqlite3';
import { Secret, TOTP } from 'otpauth';
import { buildApp } from '../../src/app.js';
import { systemClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { loadSecretBox } from '../../src/crypto/master-key.js';
import { createDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createMailService } from '../../src/notify/mail.service.js';
import { seedFirm, seedSessions } from '../lib/seed.js';

const users = Number(process.argv[2] ?? 2000);
const profileAt = process.argv.indexOf('--profile');
const profileFile = profileAt > 0 ? process.argv[profileAt + 1] : undefined;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-prof-'));
const masterKey = randomBytes(32).toString('base64');
const config = loadConfig({ TESSERA_DATA_DIR: dir, TESSERA_MASTER_KEY: masterKey, TESSERA_LOG_LEVEL: 'silent', ...(process.env.TESSERA_DATABASE_URL ? { TESSERA_DATABASE_URL: process.env.TESSERA_DATABASE_URL } : {}) });
const db = createDatabase(config.database);
await migrateToLatest(db);
const mail = createMailService({ db, clock: systemClock, smtpUrl: null, from: config.mailFrom, announce: () => {} });
const ctx = { config, db, clock: systemClock, mail, secrets: loadSecretBox(config), announce: () => {} };
const app = await buildApp(ctx);
const firm = await seedFirm(db, masterKey, { users, enrolled: users });
const tokens = await seedSessions(db, firm.firmId, firm.users.map((u) => u.id), 'second_factor');
const csrfRes = await app.inject({ method: 'GET', url: '/api/v1/csrf' });
const csrfCookie = csrfRes.cookies.find((c) => c.name === 'tessera_csrf')!;
const csrfToken = csrfRes.json().token as string;

const health = performance.now();
for (let i = 0; i < users; i++) await app.inject({ method: 'GET', url: '/api/v1/health' });
const healthMs = (performance.now() - health) / users;

// Time inside the driver's native calls, per statement text, during the verification loop only.
const native = new Map<string, { calls: number; ms: number }>();
let timing = false;
const proto = (SQLite as unknown as { prototype: { prepare(sql: string): object } }).prototype.prepare.call(new SQLite(':memory:'), 'select 1');
const statementProto = Object.getPrototypeOf(proto) as Record<'run' | 'get' | 'all', (...a: unknown[]) => unknown>;
for (const method of ['run', 'get', 'all'] as const) {
  const original = statementProto[method];
  statementProto[method] = function (this: { source: string }, ...args: unknown[]) {
    if (!timing) return original.apply(this, args);
    const t = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const entry = native.get(this.source) ?? { calls: 0, ms: 0 };
      entry.calls++;
      entry.ms += performance.now() - t;
      native.set(this.source, entry);
    }
  };
}
timing = !profileFile;

const inspector = profileFile ? new Session() : null;
if (inspector) {
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.start');
}
const start = performance.now();
let failures = 0;
for (let i = 0; i < users; i++) {
  const code = new TOTP({ secret: Secret.fromBase32(firm.users[i]!.secret!), algorithm: 'SHA1', digits: 6, period: 30 }).generate();
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/mfa/verify',
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken, cookie: `tessera_session=${tokens[i]}; tessera_csrf=${csrfCookie.value}` },
    payload: JSON.stringify({ method: 'totp', code }),
  });
  if (res.statusCode !== 200) failures++;
}
const verifyMs = (performance.now() - start) / users;
timing = false;
if (inspector && profileFile) {
  const { profile } = await inspector.post('Profiler.stop');
  fs.writeFileSync(profileFile, JSON.stringify(profile));
  inspector.disconnect();
}
const sqliteMs = [...native.values()].reduce((a, e) => a + e.ms, 0) / users;
const perStatement = Object.fromEntries(
  [...native].sort((a, b) => b[1].ms - a[1].ms).map(([text, e]) => [text.slice(0, 60), { perVerify: +(e.calls / users).toFixed(2), us: Math.round((1000 * e.ms) / users) }]),
);
console.log(JSON.stringify({ users, healthMs: +healthMs.toFixed(3), verifyMs: +verifyMs.toFixed(3), ratio: +(healthMs / verifyMs).toFixed(3), failures, ...(profileFile ? {} : { sqliteNativeMs: +sqliteMs.toFixed(3), perStatement }) }));
await app.close();
await db.destroy();
fs.rmSync(dir, { recursive: true, force: true });
