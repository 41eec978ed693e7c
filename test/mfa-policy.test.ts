import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserKind } from '../src/directory/user.table.js';
import {
  ALL_KINDS,
  activeUserSql,
  countEnabledByKind,
  coveredKindSql,
  isMfaEnabled,
  isSubscriptionLive,
  loadMfaPolicy,
  type MfaPolicy,
} from '../src/mfa-policy/mfa-policy.js';
import type { SubscriptionState } from '../src/subscriptions/subscription.table.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * Who is MFA-enabled (reference A.2.1 to A.2.4, A.2.9): every combination of
 *   user kind × corporation scope × the four "all" switches (or no configuration at all)
 *   × the user's corporation in the specific list (with each pair of switches) or not
 *   × user status × subscription state and dates.
 * The expected truth is written out here from the reference, independently of the code
 * under test; then the pure function and its SQL twins (counters and a direct query) are
 * held to it on a real database seeded with one firm per configuration and subscription.
 */

const DAY = 86_400_000;

// ---- the dimensions -------------------------------------------------------------------

type Scope = 'all' | 'specific';
/** The four switches of the firm: case managers, vendor case managers, all corp users, all foreign nationals. */
interface Switches {
  cm: boolean;
  vcm: boolean;
  allCorp: boolean;
  allFn: boolean;
}
/** The user's own corporation in the "specific" list, with its two switches; or not listed. */
type CorpEntry = { corpUsers: boolean; foreignNationals: boolean } | 'not_listed';
/** null = the firm never saved a configuration. */
type Settings = { scope: Scope; switches: Switches } | null;

type SubCase =
  | 'none'
  | 'requested'
  | 'active'
  | 'active_in_window'
  | 'active_before_start'
  | 'active_at_start'
  | 'active_at_end'
  | 'active_after_end'
  | 'suspended'
  | 'cancelled';
const SUB_CASES: SubCase[] = [
  'none',
  'requested',
  'active',
  'active_in_window',
  'active_before_start',
  'active_at_start',
  'active_at_end',
  'active_after_end',
  'suspended',
  'cancelled',
];

type UserStatus = 'active' | 'disabled' | 'portal_access_disabled' | 'record_inactive' | 'portal_and_record_off';
const STAFF_STATUSES: UserStatus[] = ['active', 'disabled'];
const CORP_STATUSES: UserStatus[] = ['active', 'portal_access_disabled', 'record_inactive', 'portal_and_record_off'];
const statusesOf = (kind: UserKind) => (kind === 'case_manager' || kind === 'vendor_case_manager' ? STAFF_STATUSES : CORP_STATUSES);

const bools = [false, true];
const ALL_SWITCHES: Switches[] = bools.flatMap((cm) => bools.flatMap((vcm) => bools.flatMap((allCorp) => bools.map((allFn) => ({ cm, vcm, allCorp, allFn })))));
const SETTINGS: Settings[] = [null, ...(['all', 'specific'] as Scope[]).flatMap((scope) => ALL_SWITCHES.map((switches) => ({ scope, switches })))];
const CORP_ENTRIES: CorpEntry[] = ['not_listed', ...bools.flatMap((corpUsers) => bools.map((foreignNationals) => ({ corpUsers, foreignNationals })))];

interface Configuration {
  settings: Settings;
  entry: CorpEntry;
}
const CONFIGURATIONS: Configuration[] = SETTINGS.flatMap((settings) => CORP_ENTRIES.map((entry) => ({ settings, entry })));

// ---- the expected truth, from the reference --------------------------------------------

/** Only an active subscription, within its optional start (inclusive) and end (exclusive), turns MFA on. */
const expectLive = (s: SubCase) => s === 'active' || s === 'active_in_window' || s === 'active_at_start';

/** A.2.9: disabled staff, and corporation users without portal access or with an inactive record, are never enabled. */
const expectActive = (status: UserStatus) => status === 'active';

function expectCovered(c: Configuration, kind: UserKind): boolean {
  if (!c.settings) return false;
  const { scope, switches } = c.settings;
  if (kind === 'case_manager') return switches.cm; // A.2.1
  if (kind === 'vendor_case_manager') return switches.vcm; // A.2.2
  if (scope === 'all') return kind === 'corp_user' ? switches.allCorp : switches.allFn; // A.2.3.1
  if (c.entry === 'not_listed') return false; // A.2.3.2: only the corporations added to the list
  return kind === 'corp_user' ? c.entry.corpUsers : c.entry.foreignNationals;
}

const expectEnabled = (c: Configuration, kind: UserKind, status: UserStatus, sub: SubCase) =>
  expectLive(sub) && expectActive(status) && expectCovered(c, kind);

// ---- the rows that represent a case --------------------------------------------------

const NOW = Date.UTC(2026, 5, 1, 12);
const SUBJECT_CORP = 'subject-corp';
/** Another listed corporation, all switches on: it must never cover the subject corporation's users. */
const OTHER_CORP = 'other-corp';

function subscriptionRow(s: SubCase): { state: SubscriptionState; starts_at: number | null; ends_at: number | null } | null {
  switch (s) {
    case 'none':
      return null;
    case 'requested':
    case 'suspended':
    case 'cancelled':
      return { state: s, starts_at: null, ends_at: null };
    case 'active':
      return { state: 'active', starts_at: null, ends_at: null };
    case 'active_in_window':
      return { state: 'active', starts_at: NOW - DAY, ends_at: NOW + DAY };
    case 'active_before_start':
      return { state: 'active', starts_at: NOW + 1, ends_at: null };
    case 'active_at_start':
      return { state: 'active', starts_at: NOW, ends_at: NOW + DAY };
    case 'active_at_end':
      return { state: 'active', starts_at: NOW - DAY, ends_at: NOW };
    case 'active_after_end':
      return { state: 'active', starts_at: null, ends_at: NOW - 1 };
  }
}

function userColumns(kind: UserKind, status: UserStatus) {
  const staff = kind === 'case_manager' || kind === 'vendor_case_manager';
  if (staff) return { status: status === 'active' ? ('active' as const) : ('disabled' as const), portal_access: null, record_state: null };
  return {
    status: null,
    portal_access: status === 'portal_access_disabled' || status === 'portal_and_record_off' ? ('disabled' as const) : ('enabled' as const),
    record_state: status === 'record_inactive' || status === 'portal_and_record_off' ? ('inactive' as const) : ('active' as const),
  };
}

/** The policy as the pure function sees it, built from the case (not from the database). */
function policyOf(c: Configuration, sub: SubCase, ids: { subject: string; other: string }): MfaPolicy {
  const corporations = new Map<string, { corp_users: number; foreign_nationals: number }>([[ids.other, { corp_users: 1, foreign_nationals: 1 }]]);
  if (c.entry !== 'not_listed') corporations.set(ids.subject, { corp_users: +c.entry.corpUsers, foreign_nationals: +c.entry.foreignNationals });
  return {
    live: isSubscriptionLive(subscriptionRow(sub), NOW),
    settings: c.settings && {
      case_managers: +c.settings.switches.cm,
      vendor_case_managers: +c.settings.switches.vcm,
      corporation_scope: c.settings.scope,
      all_corp_users: +c.settings.switches.allCorp,
      all_foreign_nationals: +c.settings.switches.allFn,
    },
    corporations,
  };
}

// ---- the pure function ----------------------------------------------------------------

describe('isMfaEnabled: every combination, against the expected truth', () => {
  it(`covers ${CONFIGURATIONS.length} configurations × ${SUB_CASES.length} subscriptions × every kind and status`, () => {
    const wrong: string[] = [];
    let cases = 0;
    for (const c of CONFIGURATIONS) {
      for (const sub of SUB_CASES) {
        const policy = policyOf(c, sub, { subject: SUBJECT_CORP, other: OTHER_CORP });
        for (const kind of ALL_KINDS) {
          for (const status of statusesOf(kind)) {
            cases++;
            const staff = kind === 'case_manager' || kind === 'vendor_case_manager';
            const user = { kind, corporation_id: staff ? null : SUBJECT_CORP, ...userColumns(kind, status) };
            const got = isMfaEnabled(policy, user);
            const want = expectEnabled(c, kind, status, sub);
            if (got !== want) wrong.push(`${JSON.stringify({ c, sub, kind, status })}: got ${got}, want ${want}`);
          }
        }
      }
    }
    expect(cases).toBe(CONFIGURATIONS.length * SUB_CASES.length * (2 * STAFF_STATUSES.length + 2 * CORP_STATUSES.length));
    expect(wrong.slice(0, 10)).toEqual([]);
  });

  it('treats the subscription end as exclusive and the start as inclusive', () => {
    expect(isSubscriptionLive({ state: 'active', starts_at: NOW, ends_at: null }, NOW)).toBe(true);
    expect(isSubscriptionLive({ state: 'active', starts_at: NOW + 1, ends_at: null }, NOW)).toBe(false);
    expect(isSubscriptionLive({ state: 'active', starts_at: null, ends_at: NOW }, NOW)).toBe(false);
    expect(isSubscriptionLive({ state: 'active', starts_at: null, ends_at: NOW + 1 }, NOW)).toBe(true);
    expect(isSubscriptionLive(null, NOW)).toBe(false);
  });
});

// ---- the SQL twins, on a real database ------------------------------------------------

interface SeededFirm {
  id: string;
  c: Configuration;
  sub: SubCase;
  subject: string;
  other: string;
  users: { id: string; kind: UserKind; status: UserStatus }[];
}

describe('the SQL twins agree with isMfaEnabled on a seeded database', () => {
  let h: Harness;
  const firms: SeededFirm[] = [];

  beforeAll(async () => {
    h = await startHarness();
    h.clock.set(NOW);
    const rows = {
      firms: [] as { id: string; slug: string; name: string; created_at: number }[],
      corporations: [] as { id: string; firm_id: string; name: string; created_at: number }[],
      users: [] as Record<string, unknown>[],
      subscriptions: [] as Record<string, unknown>[],
      mfa_settings: [] as Record<string, unknown>[],
      mfa_corporations: [] as Record<string, unknown>[],
    };
    let n = 0;
    for (const c of CONFIGURATIONS) {
      for (const sub of SUB_CASES) {
        const id = randomUUID();
        n++;
        const f: SeededFirm = { id, c, sub, subject: randomUUID(), other: randomUUID(), users: [] };
        rows.firms.push({ id, slug: `policy-${n}`, name: `Policy ${n}`, created_at: NOW });
        rows.corporations.push({ id: f.subject, firm_id: id, name: 'Subject', created_at: NOW }, { id: f.other, firm_id: id, name: 'Other', created_at: NOW });
        const s = subscriptionRow(sub);
        if (s) {
          rows.subscriptions.push({
            firm_id: id,
            ...s,
            plan_name: 'p',
            licence_count: 10,
            seats_used: 0,
            requested_at: NOW - DAY,
            activated_at: s.state === 'active' ? NOW - DAY : null,
            updated_at: NOW,
          });
        }
        if (c.settings) {
          rows.mfa_settings.push({
            firm_id: id,
            case_managers: +c.settings.switches.cm,
            vendor_case_managers: +c.settings.switches.vcm,
            corporation_scope: c.settings.scope,
            all_corp_users: +c.settings.switches.allCorp,
            all_foreign_nationals: +c.settings.switches.allFn,
            updated_at: NOW,
          });
        }
        rows.mfa_corporations.push({ corporation_id: f.other, firm_id: id, corp_users: 1, foreign_nationals: 1, added_at: NOW });
        if (c.entry !== 'not_listed') {
          rows.mfa_corporations.push({ corporation_id: f.subject, firm_id: id, corp_users: +c.entry.corpUsers, foreign_nationals: +c.entry.foreignNationals, added_at: NOW });
        }
        for (const kind of ALL_KINDS) {
          for (const status of statusesOf(kind)) {
            const uid = randomUUID();
            const staff = kind === 'case_manager' || kind === 'vendor_case_manager';
            f.users.push({ id: uid, kind, status });
            rows.users.push({
              id: uid,
              firm_id: id,
              email: `${kind}.${status}@p${n}.example`,
              name: `${kind} ${status}`,
              kind,
              is_superuser: 0,
              corporation_id: staff ? null : f.subject,
              ...userColumns(kind, status),
              password_hash: null,
              mfa_notified_at: null,
              created_at: NOW,
              updated_at: NOW,
            });
          }
        }
        firms.push(f);
      }
    }
    const insert = async (table: keyof typeof rows) => {
      const all = rows[table];
      for (let i = 0; i < all.length; i += 500) await h.ctx.db.insertInto(table as 'users').values(all.slice(i, i + 500) as never).execute();
    };
    for (const t of ['firms', 'corporations', 'users', 'subscriptions', 'mfa_settings', 'mfa_corporations'] as const) await insert(t);
  }, 120_000);
  afterAll(() => h.close());

  it('loadMfaPolicy + isMfaEnabled, countEnabledByKind and activeUserSql+coveredKindSql all give the expected truth', async () => {
    const wrong: string[] = [];
    const check = async (f: SeededFirm) => {
      const policy = await loadMfaPolicy(h.ctx.db, f.id, NOW);
      if (policy.live !== expectLive(f.sub)) wrong.push(`${f.sub}: live ${policy.live}`);
      const user = (id: string) => h.ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      const [counts, direct, loaded] = await Promise.all([
        countEnabledByKind(h.ctx.db, f.id, policy),
        h.ctx.db
          .selectFrom('users')
          .select('id')
          .where('firm_id', '=', f.id)
          .where((eb) => eb.and([activeUserSql(eb), eb.or(ALL_KINDS.map((k) => coveredKindSql(eb, policy, k)))]))
          .execute(),
        Promise.all(f.users.map((u) => user(u.id))),
      ]);
      const coveredBySql = new Set(direct.map((r) => r.id));
      const expectedCounts = Object.fromEntries(ALL_KINDS.map((k) => [k, 0])) as Record<UserKind, number>;
      for (const [i, u] of f.users.entries()) {
        const want = expectEnabled(f.c, u.kind, u.status, f.sub);
        // The counters and the direct query ignore the subscription (A.2.4 counts before activation too).
        const wantCovered = expectActive(u.status) && expectCovered(f.c, u.kind);
        if (wantCovered) expectedCounts[u.kind]++;
        const pure = isMfaEnabled(policy, loaded[i]!);
        const label = JSON.stringify({ c: f.c, sub: f.sub, kind: u.kind, status: u.status });
        if (pure !== want) wrong.push(`${label}: isMfaEnabled ${pure}, want ${want}`);
        if (coveredBySql.has(u.id) !== wantCovered) wrong.push(`${label}: SQL covered ${coveredBySql.has(u.id)}, want ${wantCovered}`);
        if (policy.live && coveredBySql.has(u.id) !== pure) wrong.push(`${label}: SQL and isMfaEnabled disagree`);
      }
      if (ALL_KINDS.some((k) => counts[k] !== expectedCounts[k])) {
        wrong.push(`${JSON.stringify({ c: f.c, sub: f.sub })}: counts ${JSON.stringify(counts)}, want ${JSON.stringify(expectedCounts)}`);
      }
    };
    for (let i = 0; i < firms.length; i += 8) await Promise.all(firms.slice(i, i + 8).map(check));
    expect(firms).toHaveLength(CONFIGURATIONS.length * SUB_CASES.length);
    expect(wrong.slice(0, 10)).toEqual([]);
  }, 180_000);

  it("never counts another firm's users: ten firms share each configuration, each counts only its own", async () => {
    const f = firms.find((x) => x.c.settings?.scope === 'all' && Object.values(x.c.settings.switches).every(Boolean) && x.c.entry === 'not_listed' && x.sub === 'active')!;
    const counts = await countEnabledByKind(h.ctx.db, f.id, await loadMfaPolicy(h.ctx.db, f.id, NOW));
    expect(counts).toEqual({ case_manager: 1, vendor_case_manager: 1, corp_user: 1, foreign_national: 1 });
  });
});
