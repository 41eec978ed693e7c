import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { keyIdOf, SecretBox } from '../../src/crypto/secret-box.js';
import { beginTotpEnrollment } from '../../src/factors/totp/totp.factor.js';
import { takeSeat } from '../../src/subscriptions/seat.service.js';
import type { TestDatabase } from './database.js';
import { DeviceSimulator } from './device-simulator.js';
import { activateSubscription, addUser, Agent, enableMfaForStaff, firmWithAdmin, PASSWORD, startHarness, type Harness, type TestFirm } from './harness.js';
import { overHttp } from './server-process.js';

/**
 * Data for a test that runs the real server process: written in-process (harness helpers,
 * real enrolment through HTTP inject) on a database the process then opens, with the same
 * master key (pass `env` to startServerProcess).
 */
export interface ProcessSeed {
  h: Harness;
  /** TESSERA_DATABASE_URL and TESSERA_MASTER_KEY for the server process. */
  env: Record<string, string>;
  /** A firm with MFA on for its staff and 1000 licences. */
  mfaFirm: TestFirm;
  /** A firm without MFA. */
  plainFirm: TestFirm;
  /** A case manager of the plain firm: the password alone logs in. */
  plainUser(): Promise<{ email: string; slug: string }>;
  /** A case manager of the MFA firm with an authenticator app (TOTP): `secret` makes the codes. */
  totpUser(): Promise<{ email: string; slug: string; secret: string }>;
  /** A case manager of the MFA firm with the Tessera Authenticator; the simulator signs with the system clock. */
  pushUser(): Promise<{ email: string; slug: string; device: DeviceSimulator }>;
  /** Closes the in-process app (the database stays). */
  close(): Promise<void>;
}

let seq = 0;

export async function seedForProcess(database: TestDatabase): Promise<ProcessSeed> {
  if (database.config.kind !== 'postgres' && database.config.kind !== 'sqlite') throw new Error('unknown database');
  const key = randomBytes(32);
  const h = await startHarness({ shared: database, secrets: new SecretBox({ id: keyIdOf(key), key }) });
  const url = database.config.kind === 'postgres' ? database.config.url : `sqlite:${database.config.file}`;
  const mfaFirm = await firmWithAdmin(h);
  await activateSubscription(h, mfaFirm.firm.id, 1000);
  await enableMfaForStaff(h, mfaFirm.firm.id);
  const plainFirm = await firmWithAdmin(h);
  const caseManager = (f: TestFirm) =>
    addUser(h, f.firm.id, { name: `Casey ${++seq}`, email: `casey-${seq}-${randomUUID().slice(0, 6)}@example.com`, kind: 'case_manager' });

  return {
    h,
    env: { TESSERA_DATABASE_URL: url, TESSERA_MASTER_KEY: key.toString('base64') },
    mfaFirm,
    plainFirm,
    async plainUser() {
      const user = await caseManager(plainFirm);
      return { email: user.email, slug: plainFirm.firm.slug };
    },
    async totpUser() {
      const user = await caseManager(mfaFirm);
      const started = await h.ctx.db.transaction().execute(async (tx) => {
        const s = await beginTotpEnrollment(h.ctx, tx, { id: user.id, firm_id: mfaFirm.firm.id, email: user.email }, mfaFirm.firm.name);
        await tx.updateTable('authenticators').set({ status: 'active', confirmed_at: h.clock.now() }).where('id', '=', s.authenticatorId).execute();
        expect(await takeSeat(h.ctx, tx, mfaFirm.firm.id, user.id)).toBe('taken');
        return s;
      });
      return { email: user.email, slug: mfaFirm.firm.slug, secret: started.secret };
    },
    async pushUser() {
      const user = await caseManager(mfaFirm);
      const agent = new Agent(h.app);
      const login = await agent.post('/api/v1/login', { email: user.email, password: PASSWORD, firm: mfaFirm.firm.slug });
      expect(login.json().next, login.body).toBe('enroll');
      const begun = await agent.post('/api/v1/mfa/enrollment/push', { phone: { number: '07911 123456', country: 'GB' } });
      expect(begun.statusCode, begun.body).toBe(201);
      const device = await DeviceSimulator.create(h.app, systemClock);
      expect((await device.activate(begun.json().activationUrl)).statusCode).toBe(200);
      const done = await agent.post(`/api/v1/mfa/enrollment/push/${begun.json().authenticatorId}/complete`);
      expect(done.statusCode, done.body).toBe(200);
      return { email: user.email, slug: mfaFirm.firm.slug, device };
    },
    close: () => h.close(),
  };
}

/** Points a device simulator at a server process. */
export function deviceOverHttp(device: DeviceSimulator, baseUrl: string): DeviceSimulator {
  device.app = overHttp(baseUrl);
  return device;
}
