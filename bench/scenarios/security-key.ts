import { randomBytes, randomUUID } from 'node:crypto';
import type autocannon from 'autocannon';
import { SoftAuthenticator, coseKey, type SoftCredential } from '../../test/support/soft-authenticator.js';
import { healthBaseline, load } from '../lib/load.js';
import { type Scenario, ratioOf } from '../lib/scenario.js';
import { csrfPair, openDb, seedFirm, seedSessions } from '../lib/seed.js';
import { freshDatabase, startTessera } from '../lib/server.js';

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/**
 * Scenario 4: security-key logins. Each login is two requests on one connection, as a browser
 * makes them: the options (a fresh server-side challenge), then the ES256 assertion of a
 * software authenticator, verified with the real checks (origin, RP ID, signature, counter).
 */
export const securityKey: Scenario = {
  name: 'Security-key login',
  async run(ctx) {
    const users = ctx.quick ? 500 : 2_000;
    const database = await freshDatabase(ctx.pgBase);
    const server = await startTessera(database.url);
    try {
      const db = await openDb(database.url);
      const firm = await seedFirm(db, server.masterKey, { users, enrolled: users });
      // Every user gets a security key instead of the authenticator app.
      const device = new SoftAuthenticator({ origin: server.url });
      const now = Date.now();
      const keys: SoftCredential[] = [];
      await db.deleteFrom('authenticators').where('firm_id', '=', firm.firmId).execute();
      for (let i = 0; i < firm.users.length; i += 500) {
        const chunk = firm.users.slice(i, i + 500);
        const rows = chunk.map((u) => {
          const { credential } = device.register({
            challenge: b64u(randomBytes(32)),
            rp: { id: '127.0.0.1', name: 'bench' },
            user: { id: b64u(Buffer.from(u.id)), name: u.email, displayName: u.email },
            pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
          } as Parameters<SoftAuthenticator['register']>[0]);
          keys.push(credential);
          return { user: u, authenticatorId: randomUUID(), credential };
        });
        await db
          .insertInto('authenticators')
          .values(rows.map((r) => ({ id: r.authenticatorId, firm_id: firm.firmId, user_id: r.user.id, kind: 'webauthn' as const, label: 'Security key', status: 'active' as const, created_at: now, confirmed_at: now, last_used_at: null, phone_e164: null })))
          .execute();
        await db
          .insertInto('webauthn_credentials')
          .values(
            rows.map((r) => ({
              authenticator_id: r.authenticatorId,
              credential_id: b64u(r.credential.id),
              public_key: b64u(coseKey('ES256', r.credential.publicKey)),
              counter: 0,
              transports: '["usb"]',
              aaguid: '00000000-0000-0000-0000-000000000000',
              backed_up: 0,
              discoverable: 0,
              purpose: 'second_factor' as const,
              created_at: now,
            })),
          )
          .execute();
      }
      // Two pending logins per user: autocannon may start a few requests past `amount`, and
      // those must find a pending login too rather than count as errors.
      const ids = firm.users.map((u) => u.id);
      const tokens = await seedSessions(db, firm.firmId, [...ids, ...ids], 'second_factor');
      await db.destroy();

      const baseline = await healthBaseline(server.url, server.pid);
      const csrf = await csrfPair(server.url);
      let next = 0;
      type Ctx = { i: number; options?: Parameters<SoftAuthenticator['assert']>[0] };
      const headers = { 'content-type': 'application/json', 'x-csrf-token': csrf.token };
      const steps: autocannon.Request[] = [
        {
          method: 'POST',
          path: '/api/v1/mfa/webauthn/options',
          setupRequest: (req: autocannon.Request, context: Ctx) => {
            context.i = next++ % tokens.length;
            return { ...req, body: '{}', headers: { ...headers, cookie: `tessera_session=${tokens[context.i]}; ${csrf.cookie}` } };
          },
          onResponse: (_status: number, body: string, context: Ctx) => {
            context.options = JSON.parse(body).options;
          },
        } as unknown as autocannon.Request,
        {
          method: 'POST',
          path: '/api/v1/mfa/webauthn/verify',
          setupRequest: (req: autocannon.Request, context: Ctx) => {
            const response = device.assert(context.options!, keys[context.i % users]!);
            return { ...req, body: JSON.stringify({ response }), headers: { ...headers, cookie: `tessera_session=${tokens[context.i]}; ${csrf.cookie}` } };
          },
        } as unknown as autocannon.Request,
      ];
      const result = await load({ url: server.url, connections: 8, amount: users * 2, duration: 120, steps, serverPid: server.pid });
      const loginsPerSecond = Math.round(result.rps / 2);
      const ratio = ratioOf(loginsPerSecond, baseline);
      const errors = result.errors + result.non2xx;
      return [
        {
          scenario: securityKey.name,
          database: ctx.database,
          dataSize: `${users} users with an ES256 security key, one pending login each`,
          baseline,
          measured: { loginsPerSecond, requestP50Ms: result.p50, requestP99Ms: result.p99, errors, serverCpuMsPerLogin: 2 * (result.cpuMsPerRequest ?? 0), serverCpuMsPerHealth: baseline.cpuMsPerRequest ?? 0 },
          ratio,
          targets: [
            { what: 'logins vs health', target: '≥ 0.25', actual: String(ratio), met: ratio >= 0.25 },
            { what: 'no errors', target: '0', actual: String(errors), met: errors === 0 },
          ],
        },
      ];
    } finally {
      await server.stop();
      await database.drop();
    }
  },
};
