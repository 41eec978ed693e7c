/**
 * In-process cost of one passcode verification (no network, no load generator): builds the
 * app on a fresh SQLite database, seeds enrolled users with pending logins, and times
 * sequential POST /api/v1/mfa/verify through app.inject. Run with --cpu-prof to profile:
 *   npx tsc -p tsconfig.bench.json --outDir dist && node --cpu-prof dist/bench/tools/verify-profile.js [users]
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
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
console.log(JSON.stringify({ users, healthMs: +healthMs.toFixed(3), verifyMs: +verifyMs.toFixed(3), ratio: +(healthMs / verifyMs).toFixed(3), failures }));
await app.close();
await db.destroy();
fs.rmSync(dir, { recursive: true, force: true });
