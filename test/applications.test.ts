import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDuoIntegration, findOidcClient } from '../src/applications/application.lookup.js';
import type { ApplicationView } from '../src/applications/application.service.js';
import { audit } from '../src/audit/audit.service.js';
import { HOUR, ManualClock } from '../src/clock.js';
import { runHousekeeping } from '../src/housekeeping.js';
import { itRefusesOutsiders, notSuperusers, type Route } from './support/access.js';
import {
  Agent,
  addUser,
  auditEvents,
  dbState,
  expectRefused,
  firmWithAdmin,
  operatorAgent,
  startHarness,
  userAgent,
  type Harness,
  type TestFirm,
} from './support/harness.js';

/**
 * The Applications registry (issue 14 item 1, issue 15 item 1): /api/v1/admin/applications and
 * the doors' lookups. Firm A is administered; firm B is the neighbour that must never see or
 * touch A's applications. Time is a ManualClock, so rotation grace periods end when the test says.
 */

const APPS = '/api/v1/admin/applications';
const DAY = 24 * HOUR;

let h: Harness;
let clock: ManualClock;
let A: TestFirm;
let B: TestFirm;
let member: Agent; // a case manager of A who is not a superuser
let operator: Agent;
/** An application of A the refusal tests point at (a DELETE that got through would succeed). */
let target: ApplicationView;

let seq = 0;
const unique = (name: string) => `${name} ${++seq}`;

type Created = { application: ApplicationView; secret: string | null };

async function create(f: TestFirm, body: Record<string, unknown>): Promise<Created> {
  const res = await f.admin.post(APPS, body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as Created;
}
const oidcBody = (o: Record<string, unknown> = {}) => ({ type: 'oidc', name: unique('Case Portal'), redirectUris: ['https://portal.example.com/callback'], ...o });
const authApiBody = (o: Record<string, unknown> = {}) => ({ type: 'duo_auth_api', name: unique('VPN Gateway'), ...o });
const webSdkBody = (o: Record<string, unknown> = {}) => ({ type: 'duo_web_sdk', name: unique('Admin Console'), redirectUris: ['https://console.example.com/duo-callback'], ...o });

/**
 * Moves the clock on; the superusers' sessions end after 30 idle minutes, so they sign in
 * again (through the login route) when the clock moved past that.
 */
async function later(ms: number): Promise<void> {
  clock.advance(ms);
  if (ms < 30 * 60_000) return;
  for (const f of [A, B]) f.admin = await userAgent(h, f.superuser.email, f.firm.slug);
}
const row = (id: string) => h.ctx.db.selectFrom('applications').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

beforeAll(async () => {
  clock = new ManualClock(Date.UTC(2026, 8, 1, 9, 0, 0));
  h = await startHarness({ clock });
  A = await firmWithAdmin(h);
  B = await firmWithAdmin(h);
  const mick = await addUser(h, A.firm.id, { name: 'Mick Member', email: `mick-${A.firm.slug}@example.com`, kind: 'case_manager' });
  member = await userAgent(h, mick.email, A.firm.slug);
  operator = await operatorAgent(h);
  target = (await create(A, oidcBody({ name: 'Refusal Target' }))).application;
});
afterAll(() => h?.close());

/** Every route of the applications API; `:id` is an application of firm A, bodies are valid. */
const ROUTES: Route[] = [
  { method: 'GET', path: APPS },
  { method: 'POST', path: APPS, body: () => authApiBody() },
  { method: 'GET', path: `${APPS}/:id` },
  { method: 'PATCH', path: `${APPS}/:id`, body: () => ({ name: unique('Renamed') }) },
  { method: 'DELETE', path: `${APPS}/:id` },
  { method: 'POST', path: `${APPS}/:id/disable` },
  { method: 'POST', path: `${APPS}/:id/enable` },
  { method: 'POST', path: `${APPS}/:id/rotate-secret`, body: () => ({ grace: 'none' }) },
  { method: 'GET', path: `${APPS}/:id/calls` },
];

describe('who may use the applications API', () => {
  itRefusesOutsiders({
    h: () => h,
    routes: ROUTES,
    id: () => target.id,
    forbidden: notSuperusers(() => member, () => operator),
    csrfAgent: () => A.admin,
    otherFirm: { agent: () => B.admin, ids: () => [target.id] },
    badIds: { agent: () => A.admin, unknown: 'no-such-application', malformed: ['a'.repeat(65), 'a%00'] },
  });
});

describe('POST /admin/applications', () => {
  it('an OpenID Connect client: a client id, a secret shown once, sealed at rest, audited without it', async () => {
    const res = await A.admin.post(APPS, {
      type: 'oidc',
      name: '  Case Portal  ',
      redirectUris: ['https://portal.example.com/callback', 'http://localhost:8080/callback'],
      postLogoutRedirectUris: ['https://portal.example.com/'],
      allowedKinds: ['case_manager', 'corp_user'],
    });
    expect(res.statusCode, res.body).toBe(201);
    const { application, secret } = res.json() as Created;
    expect(application).toEqual({
      id: expect.any(String),
      type: 'oidc',
      name: 'Case Portal',
      clientId: expect.stringMatching(/^[a-z0-9]{24}$/),
      clientType: 'confidential',
      tokenEndpointAuthMethod: 'client_secret_basic',
      redirectUris: ['https://portal.example.com/callback', 'http://localhost:8080/callback'],
      postLogoutRedirectUris: ['https://portal.example.com/'],
      allowedKinds: ['case_manager', 'corp_user'],
      newUserPolicy: null,
      status: 'active',
      hasSecret: true,
      secretRotatedAt: null,
      previousSecretExpiresAt: null,
      createdAt: clock.now(),
      updatedAt: clock.now(),
      createdBy: { id: A.superuser.id, name: A.superuser.name },
      discoveryUrl: `${h.ctx.config.publicUrl.origin}/.well-known/openid-configuration`,
      apiHostname: null,
    });
    // 48 random bytes: 64 characters, long enough for client_secret_jwt with HS512.
    expect(secret).toMatch(/^[A-Za-z0-9_-]{64}$/);

    const stored = await row(application.id);
    expect(stored.firm_id).toBe(A.firm.id);
    expect(stored.secret).not.toContain(secret);
    expect(JSON.stringify(stored)).not.toContain(secret!);
    // Sealed with the master key and bound to this application: it opens only with its own id.
    expect(h.ctx.secrets.open(stored.secret!, application.id).toString()).toBe(secret);
    expect(() => h.ctx.secrets.open(stored.secret!, target.id)).toThrow();

    const events = await auditEvents(h, { event: 'application.created', subjectId: application.id });
    expect(events).toEqual([
      expect.objectContaining({
        firm_id: A.firm.id,
        actor_type: 'user',
        actor_id: A.superuser.id,
        subject_type: 'application',
        application_id: application.id,
        ip: '127.0.0.1',
        user_agent: 'vitest',
        details: { name: 'Case Portal', type: 'oidc', clientId: application.clientId },
      }),
    ]);
    // The secret is shown once: no later answer holds it.
    const again = await A.admin.get(`${APPS}/${application.id}`);
    expect(again.json()).toEqual(application);
    expect(again.body).not.toContain(secret);
    expect((await A.admin.get(`${APPS}?pageSize=100`)).body).not.toContain(secret);
  });

  it('a public OIDC client: no secret (PKCE), token endpoint method none, nothing to rotate', async () => {
    const { application, secret } = await create(A, oidcBody({ clientType: 'public', redirectUris: ['http://127.0.0.1:49152/cb', 'http://[::1]:3000/cb'] }));
    expect(secret).toBeNull();
    expect(application).toMatchObject({ clientType: 'public', tokenEndpointAuthMethod: 'none', hasSecret: false });
    expect(await row(application.id)).toMatchObject({ secret: null, previous_secret: null });
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(`${APPS}/${application.id}/rotate-secret`, { grace: '1h' }), 409, 'APPLICATION_HAS_NO_SECRET', before);
  });

  it('a confidential OIDC client may choose client_secret_post or client_secret_jwt', async () => {
    const { application } = await create(A, oidcBody({ tokenEndpointAuthMethod: 'client_secret_jwt' }));
    expect(application.tokenEndpointAuthMethod).toBe('client_secret_jwt');
  });

  it('a Duo Auth API application: a DI integration key, a 40-character secret key, the API hostname, new user policy "require enrollment"', async () => {
    const { application, secret } = await create(A, authApiBody({ name: 'VPN Gateway' }));
    expect(application).toMatchObject({
      type: 'duo_auth_api',
      name: 'VPN Gateway',
      clientId: expect.stringMatching(/^DI[A-Z0-9]{18}$/),
      clientType: null,
      tokenEndpointAuthMethod: null,
      redirectUris: [],
      postLogoutRedirectUris: [],
      allowedKinds: null,
      newUserPolicy: 'enroll',
      hasSecret: true,
      discoveryUrl: null,
      apiHostname: h.ctx.config.publicUrl.host,
    });
    expect(secret).toMatch(/^[A-Za-z0-9]{40}$/);
    const stored = await row(application.id);
    expect(JSON.stringify(stored)).not.toContain(secret!);
    expect(h.ctx.secrets.open(stored.secret!, application.id).toString()).toBe(secret);
  });

  it('a Duo Web SDK application: registered redirect URIs and the chosen new user policy', async () => {
    const { application, secret } = await create(A, webSdkBody({ newUserPolicy: 'deny' }));
    expect(application).toMatchObject({
      type: 'duo_web_sdk',
      clientId: expect.stringMatching(/^DI[A-Z0-9]{18}$/),
      redirectUris: ['https://console.example.com/duo-callback'],
      newUserPolicy: 'deny',
      apiHostname: h.ctx.config.publicUrl.host,
    });
    expect(secret).toMatch(/^[A-Za-z0-9]{40}$/);
  });

  it('client ids and integration keys are never the same twice', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      ids.add((await create(B, oidcBody())).application.clientId);
      ids.add((await create(B, authApiBody())).application.clientId);
    }
    expect(ids.size).toBe(10);
  });

  it.each([
    ['the name is taken in the firm', 'Case Portal'],
    ['the name is taken once trimmed', '  Case Portal '],
    ['the name is taken in another case', 'CASE PORTAL'],
  ])('%s -> 409 APPLICATION_NAME_TAKEN (whatever the type), and nothing is created', async (_case, name) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(APPS, authApiBody({ name })), 409, 'APPLICATION_NAME_TAKEN', before);
  });

  it('the same name created several times at once: one is created, the others answer 409 APPLICATION_NAME_TAKEN', async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, () => A.admin.post(APPS, authApiBody({ name: 'Raced Name' }))));
    expect(answers.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409]);
    for (const r of answers) if (r.statusCode === 409) expect(r.json()).toEqual({ error: 'APPLICATION_NAME_TAKEN', message: expect.any(String) });
    expect(await h.ctx.db.selectFrom('applications').select('id').where('firm_id', '=', A.firm.id).where('name', '=', 'Raced Name').execute()).toHaveLength(1);
  });

  it('the same name may exist in another firm', async () => {
    const { application } = await create(B, oidcBody({ name: 'Case Portal' }));
    expect(await row(application.id)).toMatchObject({ firm_id: B.firm.id, name: 'Case Portal' });
  });

  it.each([
    ['localhost with a port', 'http://localhost:8080/callback'],
    ['127.0.0.1', 'http://127.0.0.1/callback'],
    ['[::1]', 'http://[::1]:3000/cb'],
    ['https with a query', 'https://portal.example.com/cb?tenant=a'],
    ['https with a port and path', 'https://portal.example.com:8443/auth/callback'],
  ])('accepts a redirect URI: %s', async (_case, uri) => {
    const { application } = await create(A, oidcBody({ redirectUris: [uri], postLogoutRedirectUris: [uri] }));
    expect(application.redirectUris).toEqual([uri]);
    expect(application.postLogoutRedirectUris).toEqual([uri]);
  });

  it.each([
    ['plain http to a public host', 'http://portal.example.com/callback'],
    ['http to a private address', 'http://10.0.0.5/callback'],
    ['a fragment', 'https://portal.example.com/callback#done'],
    ['an empty fragment', 'https://portal.example.com/callback#'],
    ['a relative path', '/callback'],
    ['no slashes after the scheme', 'https:portal.example.com/callback'],
    ['another scheme', 'ftp://portal.example.com/callback'],
    ['a javascript: URI', 'javascript:alert(1)'],
    ['a private-use scheme', 'com.example.app:/callback'],
    ['a user and password', 'https://user:pw@portal.example.com/callback'],
    ['a user only', 'https://bank.example@evil.example/callback'],
    ['a wildcard host', 'https://*.example.com/callback'],
    ['a backslash', 'https://portal.example.com\\callback'],
    ['not a URL at all', 'https://exa%mple.com/'],
  ])('refuses a redirect URI with %s: 400 INVALID_REDIRECT_URI, nothing created', async (_case, uri) => {
    const before = await dbState(h);
    const res = await A.admin.post(APPS, oidcBody({ redirectUris: ['https://portal.example.com/ok', uri] }));
    await expectRefused(h, res, 400, 'INVALID_REDIRECT_URI', before);
    expect(res.json().message).toContain('redirect URI');
    await expectRefused(h, await A.admin.post(APPS, oidcBody({ postLogoutRedirectUris: [uri] })), 400, 'INVALID_REDIRECT_URI', before);
    await expectRefused(h, await A.admin.post(APPS, webSdkBody({ redirectUris: [uri] })), 400, 'INVALID_REDIRECT_URI', before);
  });

  it.each([
    ['an OIDC client without redirect URIs', { type: 'oidc', name: 'No Redirect' }, 'REDIRECT_URI_REQUIRED'],
    ['an OIDC client with an empty list', { type: 'oidc', name: 'No Redirect', redirectUris: [] }, 'REDIRECT_URI_REQUIRED'],
    ['a Web SDK application without redirect URIs (they are allow-listed)', { type: 'duo_web_sdk', name: 'No Redirect' }, 'REDIRECT_URI_REQUIRED'],
    ['a new user policy for an OIDC client', oidcBody({ newUserPolicy: 'allow' }), 'FIELD_NOT_APPLICABLE'],
    ['redirect URIs for an Auth API application', authApiBody({ redirectUris: ['https://vpn.example.com/'] }), 'FIELD_NOT_APPLICABLE'],
    ['post-logout redirect URIs for a Web SDK application', webSdkBody({ postLogoutRedirectUris: ['https://console.example.com/'] }), 'FIELD_NOT_APPLICABLE'],
    ['a client type for a Duo application', authApiBody({ clientType: 'public' }), 'FIELD_NOT_APPLICABLE'],
    ['a token endpoint method for a Duo application', webSdkBody({ tokenEndpointAuthMethod: 'client_secret_post' }), 'FIELD_NOT_APPLICABLE'],
    ['a token endpoint method for a public client', oidcBody({ clientType: 'public', tokenEndpointAuthMethod: 'client_secret_basic' }), 'FIELD_NOT_APPLICABLE'],
  ])('%s -> 400 %s, nothing created', async (_case, body, code) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(APPS, body), 400, code, before);
  });

  it.each(schemaErrors())('400 VALIDATION_FAILED when %s, nothing created', async (_case, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('POST', APPS, { body: body as Record<string, unknown> }), 400, 'VALIDATION_FAILED', before);
  });
});

describe('GET /admin/applications', () => {
  let f: TestFirm;
  let apps: Created[];
  beforeAll(async () => {
    f = await firmWithAdmin(h);
    apps = [
      await create(f, oidcBody({ name: 'Billing' })),
      await create(f, authApiBody({ name: 'anyconnect VPN' })),
      await create(f, webSdkBody({ name: 'Case Portal' })),
      await create(f, oidcBody({ name: 'Document Store', clientType: 'public' })),
    ];
    expect((await f.admin.post(`${APPS}/${apps[0]!.application.id}/disable`)).statusCode).toBe(200);
  });
  const names = async (query = '') => {
    const res = await f.admin.get(`${APPS}${query}`);
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().items as ApplicationView[]).map((a) => a.name);
  };

  it("lists the firm's applications by name (case-insensitive), never a secret", async () => {
    const res = await f.admin.get(APPS);
    expect(res.json()).toMatchObject({ total: 4, page: 1, pageSize: 20 });
    expect(await names()).toEqual(['anyconnect VPN', 'Billing', 'Case Portal', 'Document Store']);
    for (const { secret } of apps) if (secret) expect(res.body).not.toContain(secret);
    expect(res.json().items[1]).toMatchObject({ name: 'Billing', status: 'disabled' });
  });

  it('filters by type, status, name and client id; pages', async () => {
    expect(await names('?type=oidc')).toEqual(['Billing', 'Document Store']);
    expect(await names('?type=duo_web_sdk')).toEqual(['Case Portal']);
    expect(await names('?status=disabled')).toEqual(['Billing']);
    expect(await names('?status=active&type=oidc')).toEqual(['Document Store']);
    expect(await names('?q=port')).toEqual(['Case Portal']);
    expect(await names(`?q=${apps[1]!.application.clientId}`)).toEqual(['anyconnect VPN']);
    expect(await names('?pageSize=2&page=2')).toEqual(['Case Portal', 'Document Store']);
    expect((await f.admin.get(`${APPS}?pageSize=2&page=2`)).json()).toMatchObject({ total: 4, page: 2, pageSize: 2 });
  });

  it("never shows another firm's applications, not even by client id", async () => {
    expect(await names(`?q=${target.clientId}`)).toEqual([]);
    const res = await B.admin.get(`${APPS}?pageSize=100`);
    expect(res.body).not.toContain(target.id);
    for (const { application } of apps) expect(res.body).not.toContain(application.clientId);
  });

  it.each([['type=saml'], ['status=deleted'], ['page=0'], ['pageSize=101'], ['q=%00'], ['firmId=x']])('refuses the query %s with 400 VALIDATION_FAILED', async (query) => {
    const before = await dbState(h);
    await expectRefused(h, await f.admin.get(`${APPS}?${query}`), 400, 'VALIDATION_FAILED', before);
  });

  it("the operator console shows each firm's application count", async () => {
    const res = await operator.get(`/api/v1/operator/firms?q=${f.firm.slug}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().items).toEqual([{ ...f.firm, userCount: 1, applicationCount: 4 }]);
    const all = (await operator.get('/api/v1/operator/firms?pageSize=100')).json().items as { id: string; applicationCount: number }[];
    const counted = await h.ctx.db.selectFrom('applications').select('firm_id').where('firm_id', '=', A.firm.id).execute();
    expect(all.find((x) => x.id === A.firm.id)?.applicationCount).toBe(counted.length);
  });
});

describe('PATCH /admin/applications/:id', () => {
  it('changes name, redirect URIs, who may sign in and the token endpoint method; audits from and to', async () => {
    const { application } = await create(A, oidcBody({ name: 'Old Portal', allowedKinds: ['case_manager'] }));
    clock.advance(60_000);
    const res = await A.admin.patch(`${APPS}/${application.id}`, {
      name: ' New Portal ',
      redirectUris: ['https://new.example.com/cb'],
      postLogoutRedirectUris: ['https://new.example.com/bye'],
      allowedKinds: null,
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      ...application,
      name: 'New Portal',
      redirectUris: ['https://new.example.com/cb'],
      postLogoutRedirectUris: ['https://new.example.com/bye'],
      allowedKinds: null,
      tokenEndpointAuthMethod: 'client_secret_post',
      updatedAt: clock.now(),
    });
    expect(await row(application.id)).toMatchObject({ name: 'New Portal', allowed_kinds: null, redirect_uris: '["https://new.example.com/cb"]' });
    expect(await auditEvents(h, { event: 'application.changed', subjectId: application.id })).toEqual([
      expect.objectContaining({
        actor_id: A.superuser.id,
        application_id: application.id,
        details: {
          name: 'New Portal',
          type: 'oidc',
          clientId: application.clientId,
          changes: {
            name: { from: 'Old Portal', to: 'New Portal' },
            redirectUris: { from: ['https://portal.example.com/callback'], to: ['https://new.example.com/cb'] },
            postLogoutRedirectUris: { from: [], to: ['https://new.example.com/bye'] },
            allowedKinds: { from: ['case_manager'], to: null },
            tokenEndpointAuthMethod: { from: 'client_secret_basic', to: 'client_secret_post' },
          },
        },
      }),
    ]);
  });

  it("changes a Duo application's new user policy and kinds", async () => {
    const { application } = await create(A, authApiBody());
    const res = await A.admin.patch(`${APPS}/${application.id}`, { newUserPolicy: 'allow', allowedKinds: ['corp_user', 'foreign_national'] });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ newUserPolicy: 'allow', allowedKinds: ['corp_user', 'foreign_national'] });
  });

  it('saving what is already there answers the application and writes nothing', async () => {
    const { application } = await create(A, webSdkBody());
    const before = await dbState(h);
    const res = await A.admin.patch(`${APPS}/${application.id}`, { name: ` ${application.name} `, redirectUris: application.redirectUris, newUserPolicy: 'enroll' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual(application);
    expect(await dbState(h)).toEqual(before);
  });

  it('a change of case only is a rename of the same application', async () => {
    const { application } = await create(A, oidcBody({ name: 'wayne portal' }));
    const res = await A.admin.patch(`${APPS}/${application.id}`, { name: 'Wayne Portal' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().name).toBe('Wayne Portal');
  });

  it.each([
    ['a name another application has', { name: 'case portal' }, 409, 'APPLICATION_NAME_TAKEN'],
    ['an http redirect URI to a public host', { redirectUris: ['http://portal.example.com/cb'] }, 400, 'INVALID_REDIRECT_URI'],
    ['a post-logout URI with a fragment', { postLogoutRedirectUris: ['https://portal.example.com/#bye'] }, 400, 'INVALID_REDIRECT_URI'],
    ['no redirect URI left', { redirectUris: [] }, 400, 'REDIRECT_URI_REQUIRED'],
    ['a new user policy on an OIDC client', { newUserPolicy: 'deny' }, 400, 'FIELD_NOT_APPLICABLE'],
    ['an empty body', {}, 400, 'VALIDATION_FAILED'],
    ['a client type (fixed at creation)', { clientType: 'public' }, 400, 'VALIDATION_FAILED'],
    ['a type (fixed at creation)', { type: 'duo_auth_api' }, 400, 'VALIDATION_FAILED'],
    ['a client id (never chosen)', { clientId: 'mine' }, 400, 'VALIDATION_FAILED'],
    ['no kinds at all', { allowedKinds: [] }, 400, 'VALIDATION_FAILED'],
  ])('%s -> %i %s, and nothing changes', async (_case, body, status, code) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.patch(`${APPS}/${target.id}`, body), status, code, before);
  });

  it('redirect URIs of an Auth API application -> 400 FIELD_NOT_APPLICABLE', async () => {
    const { application } = await create(A, authApiBody());
    const before = await dbState(h);
    await expectRefused(h, await A.admin.patch(`${APPS}/${application.id}`, { redirectUris: ['https://vpn.example.com/'] }), 400, 'FIELD_NOT_APPLICABLE', before);
  });
});

describe('rotating a secret', () => {
  it('OIDC: the new secret is shown once; the old one stays valid for the grace period, by the clock', async () => {
    const { application, secret: first } = await create(A, oidcBody());
    expect((await findOidcClient(h.ctx.db, h.ctx.secrets, application.clientId, clock))?.secrets).toEqual([first]);

    clock.advance(60_000);
    const res = await A.admin.post(`${APPS}/${application.id}/rotate-secret`, { grace: '1h' });
    expect(res.statusCode, res.body).toBe(200);
    const { application: after, secret: second } = res.json() as Created;
    expect(second).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(second).not.toBe(first);
    expect(after).toEqual({ ...application, secretRotatedAt: clock.now(), previousSecretExpiresAt: clock.now() + HOUR, updatedAt: clock.now() });
    const rotatedAt = clock.now();

    const client = await findOidcClient(h.ctx.db, h.ctx.secrets, application.clientId, clock);
    expect(client?.secrets).toEqual([second, first]);
    expect(client?.metadata.client_secret).toBe(second);
    const stored = await row(application.id);
    expect(JSON.stringify(stored)).not.toContain(first!);
    expect(JSON.stringify(stored)).not.toContain(second!);
    expect(h.ctx.secrets.open(stored.previous_secret!, application.id).toString()).toBe(first);

    await later(HOUR - 1);
    expect((await findOidcClient(h.ctx.db, h.ctx.secrets, application.clientId, clock))?.secrets).toEqual([second, first]);
    await later(1);
    expect((await findOidcClient(h.ctx.db, h.ctx.secrets, application.clientId, clock))?.secrets).toEqual([second]);
    expect((await A.admin.get(`${APPS}/${application.id}`)).json().previousSecretExpiresAt).toBeNull();

    const events = await auditEvents(h, { event: 'application.secret_rotated', subjectId: application.id });
    expect(events).toEqual([
      expect.objectContaining({
        actor_id: A.superuser.id,
        application_id: application.id,
        details: { name: application.name, type: 'oidc', clientId: application.clientId, grace: '1h', previousValidUntil: rotatedAt + HOUR },
      }),
    ]);
    const everyDetail = JSON.stringify(await auditEvents(h, { subjectId: application.id }));
    expect(everyDetail).not.toContain(first!);
    expect(everyDetail).not.toContain(second!);
  });

  it('Duo: secret keys rotate the same way; a second rotation ends the first grace; "none" ends every old key at once', async () => {
    const { application, secret: k1 } = await create(A, webSdkBody());
    const keys = async () => (await findDuoIntegration(h.ctx.db, h.ctx.secrets, application.clientId, clock))?.secretKeys;
    const rotate = async (grace: string) => {
      const res = await A.admin.post(`${APPS}/${application.id}/rotate-secret`, { grace });
      expect(res.statusCode, res.body).toBe(200);
      const secret = (res.json() as Created).secret!;
      expect(secret).toMatch(/^[A-Za-z0-9]{40}$/);
      return secret;
    };
    const k2 = await rotate('7d');
    expect(await keys()).toEqual([k2, k1]);
    await later(7 * DAY - 1);
    expect(await keys()).toEqual([k2, k1]);
    const k3 = await rotate('24h');
    expect(await keys()).toEqual([k3, k2]);
    await later(DAY);
    expect(await keys()).toEqual([k3]);
    const k4 = await rotate('24h');
    expect(await keys()).toEqual([k4, k3]);
    const k5 = await rotate('none');
    expect(await keys()).toEqual([k5]);
    expect(await row(application.id)).toMatchObject({ previous_secret: null, previous_expires_at: null });
  });

  it('rotations racing each other: every answer is a success or 409 APPLICATION_SECRET_CHANGED, and the keys left are those of the successes', async () => {
    const { application, secret: original } = await create(A, oidcBody());
    const answers = await Promise.all(Array.from({ length: 6 }, () => A.admin.post(`${APPS}/${application.id}/rotate-secret`, { grace: '1h' })));
    const won = answers.filter((r) => r.statusCode === 200).map((r) => (r.json() as Created).secret!);
    for (const r of answers) if (r.statusCode !== 200) expect(r.json().error, r.body).toBe('APPLICATION_SECRET_CHANGED');
    expect(won.length).toBeGreaterThan(0);
    const valid = (await findOidcClient(h.ctx.db, h.ctx.secrets, application.clientId, clock))!.secrets;
    expect(valid).toHaveLength(2);
    // The current key is one that a caller was shown; the previous one is the key it replaced.
    expect(won).toContain(valid[0]);
    expect([original, ...won]).toContain(valid[1]);
    expect(await auditEvents(h, { event: 'application.secret_rotated', subjectId: application.id })).toHaveLength(won.length);
  });

  it.each([['no grace'], ['an unknown grace'], ['a grace in hours']])('400 VALIDATION_FAILED for %s, nothing changes', async (which) => {
    const body = which === 'no grace' ? {} : which === 'an unknown grace' ? { grace: '30d' } : { grace: 3600 };
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(`${APPS}/${target.id}/rotate-secret`, body), 400, 'VALIDATION_FAILED', before);
  });

  it('housekeeping forgets previous secrets whose grace is over, and only those', async () => {
    const { application: ended } = await create(A, authApiBody());
    const { application: running } = await create(A, authApiBody());
    expect((await A.admin.post(`${APPS}/${ended.id}/rotate-secret`, { grace: '1h' })).statusCode).toBe(200);
    await later(HOUR);
    expect((await A.admin.post(`${APPS}/${running.id}/rotate-secret`, { grace: '1h' })).statusCode).toBe(200);
    await runHousekeeping(h.ctx);
    expect(await row(ended.id)).toMatchObject({ previous_secret: null, previous_expires_at: null, secret: expect.any(String) });
    expect(await row(running.id)).toMatchObject({ previous_secret: expect.any(String), previous_expires_at: clock.now() + HOUR });
  });
});

describe('disabling, enabling and deleting', () => {
  it('a disabled application is unknown to the doors until enabled again, with the same keys', async () => {
    const oidc = await create(A, oidcBody());
    const duo = await create(A, authApiBody());
    for (const { application } of [oidc, duo]) {
      const res = await A.admin.post(`${APPS}/${application.id}/disable`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ ...application, status: 'disabled', updatedAt: clock.now() });
    }
    expect(await findOidcClient(h.ctx.db, h.ctx.secrets, oidc.application.clientId, clock)).toBeNull();
    expect(await findDuoIntegration(h.ctx.db, h.ctx.secrets, duo.application.clientId, clock)).toBeNull();

    // Disabling again: the same answer, nothing written.
    const before = await dbState(h);
    const again = await A.admin.post(`${APPS}/${duo.application.id}/disable`);
    expect(again.statusCode).toBe(200);
    expect(again.json().status).toBe('disabled');
    expect(await dbState(h)).toEqual(before);

    for (const { application } of [oidc, duo]) expect((await A.admin.post(`${APPS}/${application.id}/enable`)).json().status).toBe('active');
    expect((await findOidcClient(h.ctx.db, h.ctx.secrets, oidc.application.clientId, clock))?.secrets).toEqual([oidc.secret]);
    expect((await findDuoIntegration(h.ctx.db, h.ctx.secrets, duo.application.clientId, clock))?.secretKeys).toEqual([duo.secret]);
    expect((await auditEvents(h, { subjectId: duo.application.id })).map((e) => e.event)).toEqual(['application.created', 'application.disabled', 'application.enabled']);
  });

  it('deleting removes the application and its keys for good; the audit log keeps what it was', async () => {
    const { application } = await create(A, webSdkBody({ name: 'Short Lived' }));
    const res = await A.admin.delete(`${APPS}/${application.id}`);
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');
    expect(await h.ctx.db.selectFrom('applications').select('id').where('id', '=', application.id).execute()).toEqual([]);
    expect((await A.admin.get(`${APPS}/${application.id}`)).statusCode).toBe(404);
    expect(await findDuoIntegration(h.ctx.db, h.ctx.secrets, application.clientId, clock)).toBeNull();
    expect(await auditEvents(h, { event: 'application.deleted', subjectId: application.id })).toEqual([
      expect.objectContaining({ actor_id: A.superuser.id, details: { name: 'Short Lived', type: 'duo_web_sdk', clientId: application.clientId } }),
    ]);
    // Its name is free again.
    await create(A, webSdkBody({ name: 'Short Lived' }));
  });

  it("the firm's audit log names the application of each event", async () => {
    const { application } = await create(A, authApiBody({ name: 'Named In Log' }));
    const res = await A.admin.get(`/api/v1/admin/audit-events?event=application.created&pageSize=100`);
    const item = (res.json().items as { subject: { id: string; name: string } }[]).find((e) => e.subject.id === application.id);
    expect(item?.subject).toEqual({ type: 'application', id: application.id, name: 'Named In Log', email: null });
  });
});

describe('the lookups of the doors', () => {
  it('findOidcClient answers the metadata oidc-provider needs', async () => {
    const confidential = await create(A, oidcBody({ postLogoutRedirectUris: ['https://portal.example.com/bye'], allowedKinds: ['case_manager'] }));
    expect(await findOidcClient(h.ctx.db, h.ctx.secrets, confidential.application.clientId, clock)).toEqual({
      applicationId: confidential.application.id,
      firmId: A.firm.id,
      allowedKinds: ['case_manager'],
      public: false,
      metadata: {
        client_id: confidential.application.clientId,
        client_secret: confidential.secret,
        client_name: confidential.application.name,
        redirect_uris: ['https://portal.example.com/callback'],
        post_logout_redirect_uris: ['https://portal.example.com/bye'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      secrets: [confidential.secret],
    });
    const pub = await create(B, oidcBody({ clientType: 'public' }));
    const found = await findOidcClient(h.ctx.db, h.ctx.secrets, pub.application.clientId, clock);
    expect(found).toMatchObject({ firmId: B.firm.id, public: true, secrets: [], metadata: { token_endpoint_auth_method: 'none' } });
    expect(found?.metadata).not.toHaveProperty('client_secret');
  });

  it('findDuoIntegration answers firm, type, name, new user policy and keys', async () => {
    const sdk = await create(B, webSdkBody({ newUserPolicy: 'allow', allowedKinds: ['corp_user'] }));
    expect(await findDuoIntegration(h.ctx.db, h.ctx.secrets, sdk.application.clientId, clock)).toEqual({
      applicationId: sdk.application.id,
      firmId: B.firm.id,
      type: 'duo_web_sdk',
      name: sdk.application.name,
      integrationKey: sdk.application.clientId,
      newUserPolicy: 'allow',
      allowedKinds: ['corp_user'],
      redirectUris: ['https://console.example.com/duo-callback'],
      secretKeys: [sdk.secret],
    });
  });

  it("each finds only its own door's applications, and nothing for an unknown key", async () => {
    const oidc = await create(A, oidcBody());
    const duo = await create(A, authApiBody());
    expect(await findDuoIntegration(h.ctx.db, h.ctx.secrets, oidc.application.clientId, clock)).toBeNull();
    expect(await findOidcClient(h.ctx.db, h.ctx.secrets, duo.application.clientId, clock)).toBeNull();
    expect(await findOidcClient(h.ctx.db, h.ctx.secrets, 'DIXXXXXXXXXXXXXXXXXX', clock)).toBeNull();
    expect(await findDuoIntegration(h.ctx.db, h.ctx.secrets, 'DIXXXXXXXXXXXXXXXXXX', clock)).toBeNull();
  });

  it('a sealed secret copied into another application does not open there', async () => {
    const a = await create(A, authApiBody());
    const b = await create(A, authApiBody());
    const sealed = (await row(a.application.id)).secret!;
    await h.ctx.db.updateTable('applications').set({ secret: sealed }).where('id', '=', b.application.id).execute();
    await expect(findDuoIntegration(h.ctx.db, h.ctx.secrets, b.application.clientId, clock)).rejects.toThrow();
    await h.ctx.db.deleteFrom('applications').where('id', '=', b.application.id).execute();
  });
});

describe('GET /admin/applications/:id/calls', () => {
  it("lists the sign-ins and calls that came through the application, newest first; not its administration, not another application's", async () => {
    const { application } = await create(A, authApiBody());
    const other = await create(A, authApiBody());
    const empty = await A.admin.get(`${APPS}/${application.id}/calls`);
    expect(empty.statusCode, empty.body).toBe(200);
    expect(empty.json()).toMatchObject({ items: [], total: 0 });

    // What a door will write for a login through the application (the doors come later).
    const door = { type: 'anonymous' as const, id: null, firmId: A.firm.id, ip: '203.0.113.7', userAgent: 'duo_client' };
    await audit(h.ctx.db, clock.now(), door, { event: 'login.succeeded', subjectType: 'user', subjectId: A.superuser.id, applicationId: application.id, details: { factors: ['password'] } });
    clock.advance(1000);
    await audit(h.ctx.db, clock.now(), door, { event: 'mfa.failed', subjectType: 'user', subjectId: A.superuser.id, applicationId: application.id, details: { method: 'totp' } });
    await audit(h.ctx.db, clock.now(), door, { event: 'login.succeeded', subjectType: 'user', subjectId: A.superuser.id, applicationId: other.application.id, details: {} });

    const res = await A.admin.get(`${APPS}/${application.id}/calls`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().total).toBe(2);
    expect(res.json().items.map((e: { event: string; ip: string; subject: { name: string } }) => [e.event, e.ip, e.subject.name])).toEqual([
      ['mfa.failed', '203.0.113.7', A.superuser.name],
      ['login.succeeded', '203.0.113.7', A.superuser.name],
    ]);
  });
});

/** Bodies the create schema refuses. */
function schemaErrors(): [string, unknown][] {
  return [
    ['the type is missing', { name: 'No Type', redirectUris: ['https://a.example/cb'] }],
    ['the type is unknown', { type: 'saml', name: 'SAML App' }],
    ['the name is missing', { type: 'duo_auth_api' }],
    ['the name is blank', { type: 'duo_auth_api', name: '   ' }],
    ['the name is oversized', { type: 'duo_auth_api', name: 'n'.repeat(201) }],
    ['the name holds a NUL', { type: 'duo_auth_api', name: 'VPN\u0000' }],
    ['redirectUris is a string', { type: 'oidc', name: 'X', redirectUris: 'https://a.example/cb' }],
    ['a redirect URI holds a space', { type: 'oidc', name: 'X', redirectUris: ['https://a.example/c b'] }],
    ['a redirect URI is empty', { type: 'oidc', name: 'X', redirectUris: [''] }],
    ['a redirect URI is oversized', { type: 'oidc', name: 'X', redirectUris: [`https://a.example/${'x'.repeat(1000)}`] }],
    ['a redirect URI is listed twice', { type: 'oidc', name: 'X', redirectUris: ['https://a.example/cb', 'https://a.example/cb'] }],
    ['there are more than 20 redirect URIs', { type: 'oidc', name: 'X', redirectUris: Array.from({ length: 21 }, (_, i) => `https://a.example/cb${i}`) }],
    ['allowedKinds is empty', { type: 'duo_auth_api', name: 'X', allowedKinds: [] }],
    ['allowedKinds names an unknown kind', { type: 'duo_auth_api', name: 'X', allowedKinds: ['operator'] }],
    ['allowedKinds repeats a kind', { type: 'duo_auth_api', name: 'X', allowedKinds: ['corp_user', 'corp_user'] }],
    ['the new user policy is unknown', { type: 'duo_auth_api', name: 'X', newUserPolicy: 'maybe' }],
    ['the client type is unknown', { type: 'oidc', name: 'X', redirectUris: ['https://a.example/cb'], clientType: 'secret' }],
    ['the token endpoint method is "none"', { type: 'oidc', name: 'X', redirectUris: ['https://a.example/cb'], tokenEndpointAuthMethod: 'none' }],
    ['a client id is chosen', { type: 'duo_auth_api', name: 'X', clientId: 'DIAAAAAAAAAAAAAAAAAA' }],
    ['a secret is chosen', { type: 'duo_auth_api', name: 'X', secret: 'mine' }],
    ['a firm is named', { type: 'duo_auth_api', name: 'X', firmId: 'other' }],
    ['the body is an array', [{ type: 'duo_auth_api', name: 'X' }]],
  ];
}
