import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { SecretBox, keyIdOf } from '../../src/crypto/secret-box.js';
import { runHousekeeping } from '../../src/housekeeping.js';
import { projectRoot } from '../../src/http/paths.js';
import { ensureSigningKeys, KEY_ACTIVATION_DELAY_MS, KEY_REFRESH_MS, rotateSigningKeys, signingKeyFor } from '../../src/oidc/keys.js';
import { LONGEST_SIGNED_TOKEN_MS } from '../../src/oidc/lifetimes.js';
import type { OidcSigningKey } from '../../src/oidc/oidc.table.js';
import { addUser, firmWithAdmin } from '../support/harness.js';
import { signIn, startOidcNode, type OidcNode } from '../support/oidc.js';

/**
 * The OpenID Provider's signing keys: made once however many processes start together,
 * rotated by the operator command, picked up by running nodes without a restart, published
 * before they sign and after they stop, then deleted.
 */
const masterKey = randomBytes(32);
const secrets = new SecretBox({ id: keyIdOf(masterKey), key: masterKey });
const clock = new ManualClock(Date.now());
const clientRecord = (id: string, alg: 'ES256' | 'RS256', firmId: string) => ({
  firmId,
  metadata: { client_id: id, client_secret: `${id}-secret-0123456789-0123456789-0123456789`, redirect_uris: [`https://${id}.example/cb`], id_token_signed_response_alg: alg },
});

let a: OidcNode;
let b: OidcNode;
let firmId = '';
const registry = { findClient: async (id: string) => (id === 'modern' ? clientRecord('modern', 'ES256', firmId) : id === 'legacy' ? clientRecord('legacy', 'RS256', firmId) : undefined) };

beforeAll(async () => {
  // One master key for both nodes, as the README asks of a cluster; the command below is given it too.
  a = await startOidcNode({ clients: registry, clock, secrets });
  b = await startOidcNode({ clients: registry, clock, sameDatabaseAs: a });
  const f = await firmWithAdmin(a.h, 'keys-firm');
  firmId = f.firm.id;
  await addUser(a.h, firmId, { name: 'Kim Keys', email: 'kim@keys.example', kind: 'case_manager' });
}, 60_000);
afterAll(async () => {
  await b?.h.close();
  await a?.h.close();
});

const jwksKids = async (node: OidcNode) => ((await node.h.app.inject({ method: 'GET', url: '/oidc/jwks' })).json().keys as { kid: string }[]).map((k) => k.kid);
const signingKid = async (clientId: 'modern' | 'legacy', node: OidcNode) => {
  const { tokens } = await signIn({
    clientId,
    auth: client.ClientSecretBasic(`${clientId}-secret-0123456789-0123456789-0123456789`),
    redirectUri: `https://${clientId}.example/cb`,
    person: { email: 'kim@keys.example', firm: 'keys-firm' },
    nodes: { start: node, resume: node, redeem: node },
    params: { scope: 'openid' },
  });
  return decodeProtectedHeader(tokens.id_token!).kid;
};
const keyRows = () => a.h.ctx.db.selectFrom('oidc_signing_keys').selectAll().orderBy('created_at').orderBy('alg').execute();

describe('signing keys', () => {
  it('are made once, one ES256 and one RS256, however many processes start together', async () => {
    await Promise.all([ensureSigningKeys(a.h.ctx), ensureSigningKeys(b.h.ctx), ensureSigningKeys(a.h.ctx), ensureSigningKeys(b.h.ctx)]);
    const rows = await keyRows();
    expect(rows.map((r) => [r.alg, r.state])).toEqual([
      ['ES256', 'current'],
      ['RS256', 'current'],
    ]);
    expect(rows.every((r) => r.active_from === r.created_at)).toBe(true);
    // Both nodes publish the same keys, ES256 first.
    const kids = await jwksKids(a);
    expect(await jwksKids(b)).toEqual(kids);
    expect(kids).toEqual(['ES256', 'RS256'].map((alg) => rows.find((r) => r.alg === alg)!.kid));
  });

  it('rotate: new keys published at once and signing after the activation delay; old ones published until their last token expires, then deleted', async () => {
    const [oldEs, oldRs] = (await jwksKids(a)) as [string, string];
    expect(await signingKid('modern', a)).toBe(oldEs);
    expect(await signingKid('legacy', b)).toBe(oldRs);

    const rotation = await rotateSigningKeys(a.h.ctx);
    const now = clock.now();
    const newEs = rotation.created.find((k) => k.alg === 'ES256')!.kid;
    const newRs = rotation.created.find((k) => k.alg === 'RS256')!.kid;
    expect(rotation.created.every((k) => k.activeFrom === now + KEY_ACTIVATION_DELAY_MS)).toBe(true);
    const publishUntil = now + KEY_ACTIVATION_DELAY_MS + KEY_REFRESH_MS + LONGEST_SIGNED_TOKEN_MS;
    expect(rotation.retired).toEqual(expect.arrayContaining([{ kid: oldEs, alg: 'ES256', publishUntil }, { kid: oldRs, alg: 'RS256', publishUntil }]));

    // A node that has not reloaded yet still serves the old set; after its reload it publishes
    // the new keys too, but signs with the old ones until the activation.
    expect(await jwksKids(b)).toEqual([oldEs, oldRs]);
    await Promise.all([a.h.app.oidc.refreshKeys(), b.h.app.oidc.refreshKeys()]);
    for (const node of [a, b]) expect(new Set(await jwksKids(node))).toEqual(new Set([oldEs, oldRs, newEs, newRs]));
    expect(await signingKid('modern', b)).toBe(oldEs);

    clock.advance(KEY_ACTIVATION_DELAY_MS);
    await Promise.all([a.h.app.oidc.refreshKeys(), b.h.app.oidc.refreshKeys()]);
    expect(await signingKid('modern', a)).toBe(newEs);
    expect(await signingKid('legacy', b)).toBe(newRs);
    expect((await jwksKids(b)).slice(0, 2)).toEqual([newEs, newRs]);
    expect(new Set(await jwksKids(b))).toEqual(new Set([oldEs, oldRs, newEs, newRs]));

    clock.set(publishUntil - 1);
    await b.h.app.oidc.refreshKeys();
    expect(await jwksKids(b)).toContain(oldEs);
    clock.set(publishUntil);
    await b.h.app.oidc.refreshKeys();
    expect(await jwksKids(b)).toEqual([newEs, newRs]);

    // The retired rows (private halves included) go at the next housekeeping.
    const stateOf = async () => Object.fromEntries((await keyRows()).map((r) => [r.kid, r.state]));
    expect(await stateOf()).toEqual({ [oldEs]: 'retired', [oldRs]: 'retired', [newEs]: 'current', [newRs]: 'current' });
    await runHousekeeping(a.h.ctx);
    expect(await stateOf()).toEqual({ [newEs]: 'current', [newRs]: 'current' });
  });

  it('the operator command rotates them from another process; the running nodes pick the keys up', async () => {
    const before = (await keyRows()).map((r) => r.kid);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-rotate-'));
    const database = a.h.ctx.config.database;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(projectRoot(), 'src', 'server.ts'), '--rotate-signing-keys'], {
      cwd: projectRoot(),
      env: {
        PATH: process.env.PATH ?? '',
        TESSERA_DATA_DIR: dataDir,
        TESSERA_DATABASE_URL: database.kind === 'sqlite' ? `sqlite:${database.file}` : database.url,
        TESSERA_MASTER_KEY: masterKey.toString('base64'),
        TESSERA_LOG_LEVEL: 'silent',
      },
    });
    fs.rmSync(dataDir, { recursive: true, force: true });
    const rows = await keyRows();
    const current = rows.filter((r) => r.state === 'current');
    expect(current.map((r) => r.alg)).toEqual(['ES256', 'RS256']);
    expect(rows.filter((r) => r.state === 'retired').map((r) => r.kid).sort()).toEqual([...before].sort());
    for (const k of current) expect(stdout).toContain(`New ${k.alg} signing key ${k.kid}: published now, signs from `);
    for (const kid of before) expect(stdout).toMatch(new RegExp(`Retired (ES256|RS256) signing key ${kid}: published until `));
    // The command sealed the private keys with the cluster's master key: the nodes can open and publish them.
    await a.h.app.oidc.refreshKeys();
    expect(new Set(await jwksKids(a))).toEqual(new Set([...before, ...current.map((r) => r.kid)]));
  }, 60_000);
});

describe('which key signs', () => {
  const row = (kid: string, alg: 'ES256' | 'RS256', activeFrom: number, retiredAt: number | null = null): OidcSigningKey => ({
    kid,
    alg,
    private_jwk: '',
    public_jwk: '{}',
    created_at: activeFrom,
    active_from: activeFrom,
    state: retiredAt === null ? 'current' : 'retired',
    retired_at: retiredAt,
    publish_until: retiredAt === null ? null : retiredAt + 1_000_000,
  });

  it('is the current key once active, else the retired key that was signing', () => {
    const keys = [row('old', 'ES256', 0, 100), row('new', 'ES256', 200), row('rsa', 'RS256', 0)];
    expect(signingKeyFor(keys, 'ES256', 150)?.kid).toBe('old');
    expect(signingKeyFor(keys, 'ES256', 200)?.kid).toBe('new');
    expect(signingKeyFor(keys, 'RS256', 150)?.kid).toBe('rsa');
  });

  it('is never a key rotated out again before its activation (two rotations in a row)', () => {
    const keys = [row('first', 'ES256', 0, 100), row('skipped', 'ES256', 200, 150), row('third', 'ES256', 350)];
    for (const t of [160, 250, 349]) expect(signingKeyFor(keys, 'ES256', t)?.kid).toBe('first');
    expect(signingKeyFor(keys, 'ES256', 350)?.kid).toBe('third');
  });
});
