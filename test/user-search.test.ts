import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containsText } from '../src/db/constraints.js';
import { isPostgres } from '../src/db/database.js';
import { listUsers } from '../src/directory/user.service.js';
import { SELECTIVE_MAX } from '../src/directory/user-search.js';
import { listEnrolled } from '../src/enrollment/enrolled-users.service.js';
import { addCorporation, addUser, firmWithAdmin, startHarness, type Harness, type TestFirm } from './support/harness.js';

/**
 * User search (Users list and Enrolled Users) on the trigram indexes of migration 0009: SQLite
 * FTS5 `trigram` kept by triggers, PostgreSQL pg_trgm. The promise is "exactly the results of
 * the scan": every search here is checked against the scan itself (the LIKE of containsText
 * over every user of the firm, the query these lists ran before the indexes), on the database
 * the suite runs on.
 */

let h: Harness;
let A: TestFirm;
let B: TestFirm;
const now = Date.now();

/** Characters that mean something to LIKE, FTS5, JSON, SQL or case folding. */
const TRICKY = ['%', '_', '\\', '"', "'", '*', '^', ':', '(', ')', '-', '+', ' ', '.', '@', 'é', 'É', 'ß', 'ẞ', 'İ', 'ı', 'Σ', 'σ', 'ς', 'Ω', '😀', '中', '文', 'AND', 'OR', 'NEAR', 'a', 'A', 'b', 'B', 'x', '0', '1'];
const piece = fc.constantFrom(...TRICKY);
const word = fc.array(piece, { minLength: 1, maxLength: 6 }).map((p) => p.join(''));

async function insertUsers(firmId: string, rows: { name: string; email: string; corporationId?: string | null; enrolled?: boolean }[]): Promise<string[]> {
  const ids = rows.map(() => randomUUID());
  for (let i = 0; i < rows.length; i += 200) {
    const chunk = rows.slice(i, i + 200);
    await h.ctx.db
      .insertInto('users')
      .values(
        chunk.map((r, j) => ({
          id: ids[i + j]!,
          firm_id: firmId,
          email: r.email,
          name: r.name,
          kind: r.corporationId ? ('corp_user' as const) : ('case_manager' as const),
          is_superuser: 0,
          corporation_id: r.corporationId ?? null,
          status: r.corporationId ? null : ('active' as const),
          portal_access: r.corporationId ? ('enabled' as const) : null,
          record_state: r.corporationId ? ('active' as const) : null,
          password_hash: null,
          mfa_notified_at: null,
          mfa_failed_count: 0,
          mfa_locked_until: null,
          created_at: now,
          updated_at: now,
        })),
      )
      .execute();
    const seated = chunk.map((r, j) => ({ r, id: ids[i + j]! })).filter((x) => x.r.enrolled);
    if (seated.length) await h.ctx.db.insertInto('seats').values(seated.map((x) => ({ user_id: x.id, firm_id: firmId, taken_at: now }))).execute();
  }
  return ids;
}

/** The scan: what both lists returned before migration 0009, in their order (name, id). */
async function scan(firmId: string, q: string, o: { enrolledOnly: boolean }): Promise<string[]> {
  const rows = await h.ctx.db
    .selectFrom('users')
    .innerJoin('firms', 'firms.id', 'users.firm_id')
    .leftJoin('corporations', 'corporations.id', 'users.corporation_id')
    .select('users.id')
    .where('users.firm_id', '=', firmId)
    .where((eb) =>
      eb.or([
        containsText('users.name', q),
        containsText('users.email', q),
        containsText('corporations.name', q),
        ...(o.enrolledOnly ? [eb.and([eb('users.corporation_id', 'is', null), containsText('firms.name', q)])] : []),
      ]),
    )
    .$if(o.enrolledOnly, (qb) => qb.where((eb) => eb.exists(eb.selectFrom('seats').select('seats.user_id').whereRef('seats.user_id', '=', 'users.id'))))
    .orderBy('users.name')
    .orderBy('users.id')
    .execute();
  return rows.map((r) => r.id);
}

async function expectSameAsScan(firmId: string, q: string): Promise<void> {
  const users = await listUsers(h.ctx.db, firmId, { q, pageSize: 5000 }, now);
  const expectedUsers = await scan(firmId, q, { enrolledOnly: false });
  expect({ q, ids: users.items.map((u) => u.id), total: users.total }).toEqual({ q, ids: expectedUsers, total: expectedUsers.length });
  const enrolled = await listEnrolled(h.ctx.db, firmId, { q, pageSize: 5000 });
  const expectedEnrolled = await scan(firmId, q, { enrolledOnly: true });
  expect({ q, ids: enrolled.items.map((u) => u.userId), total: enrolled.total }).toEqual({ q, ids: expectedEnrolled, total: expectedEnrolled.length });
}

const names: string[] = [];

beforeAll(async () => {
  h = await startHarness();
  A = await firmWithAdmin(h);
  B = await firmWithAdmin(h);
  const acme = await addCorporation(h, A.firm.id, 'Acme "Quoted" 100% Ltd_');
  // Fixed users with the awkward cases spelled out, then random ones.
  const fixed = [
    { name: 'Zoë Ünal', email: 'zoe@example.com' },
    { name: 'ZOË ÜNAL', email: 'zoe.upper@example.com' },
    { name: '100% Sure_Thing', email: 'percent@example.com' },
    { name: 'Back\\slash "Quote" O\'Brien', email: 'quote@example.com' },
    { name: 'NEAR AND OR NOT', email: 'fts-words@example.com' },
    { name: 'Straße Groß', email: 'strasse@example.com' },
    { name: '山田 太郎', email: 'yamada@example.jp' },
    { name: 'Emoji 😀 Person', email: 'emoji@example.com' },
    { name: 'İstanbul Iğdır', email: 'istanbul@example.com' },
    { name: 'Corp Worker', email: 'worker@acme.example', corporationId: acme.id },
  ];
  const random = fc.sample(fc.tuple(word, word, word), { numRuns: 120, seed: 7 }).map(([a, b, c], i) => ({ name: `${a} ${b}`, email: `${c}.${i}@example.com` }));
  const all = [...fixed, ...random].map((u, i) => ({ ...u, enrolled: i % 3 !== 0 }));
  await insertUsers(A.firm.id, all);
  names.push(...all.map((u) => u.name), ...all.map((u) => u.email));
  // A neighbour with the same names: never in firm A's results.
  await insertUsers(B.firm.id, fixed.filter((u) => !u.corporationId).map((u) => ({ ...u, email: `b.${u.email}`, enrolled: true })));
});

afterAll(async () => {
  await h.close();
});

describe('user search gives exactly the results of the scan', () => {
  it.each([
    ['a name', 'Zoë'],
    ['a name, other case (non-ASCII case is not folded by SQLite lower(), ASCII is)', 'zoË ünal'],
    ['percent and underscore are literal', '100%'],
    ['underscore is literal', 'e_t'],
    ['a backslash', 'k\\s'],
    ['double quotes (FTS5 syntax)', '"Quote"'],
    ['a single quote', "O'Brien"],
    ['FTS5 operators as words', 'NEAR AND'],
    ['FTS5 syntax characters', '*:^()'],
    ['German ß', 'straße'],
    ['CJK', '山田 太'],
    ['CJK, two characters (no trigram)', '山田'],
    ['emoji', '😀 P'],
    ['dotted capital I', 'İstan'],
    ['short query: one letter', 'z'],
    ['short query: two letters', 'ün'],
    ['spaces around are trimmed', '  Groß  '],
    ['an email domain', 'example.jp'],
    ['a corporation name, with quote and percent', '"quoted" 100%'],
    ["the firm's name (staff are the firm's)", 'Firm firm-'],
    ['nothing matches', 'qqqqzzzz'],
  ])('%s: %j', async (_what, q) => {
    await expectSameAsScan(A.firm.id, q);
  });

  it('finds what it should, not only what the scan finds (spot checks)', async () => {
    const find = async (q: string) => (await listUsers(h.ctx.db, A.firm.id, { q, pageSize: 100 }, now)).items.map((u) => u.name);
    // Corp Worker's corporation is "Acme "Quoted" 100% Ltd_".
    expect(await find('100%')).toEqual(['100% Sure_Thing', 'Corp Worker']);
    expect(await find('"QUOTE"')).toEqual(['Back\\slash "Quote" O\'Brien']);
    expect(await find('yamada@')).toEqual(['山田 太郎']);
    expect(await find('worker')).toEqual(['Corp Worker']);
    // ASCII case is folded on both databases.
    expect(await find('emoji 😀')).toEqual(['Emoji 😀 Person']);
    // The neighbour firm's twin is never found.
    const ids = (await listUsers(h.ctx.db, A.firm.id, { q: 'zoë', pageSize: 100 }, now)).items.map((u) => u.id);
    const bIds = (await listUsers(h.ctx.db, B.firm.id, { q: 'zoë', pageSize: 100 }, now)).items.map((u) => u.id);
    expect(ids.length).toBeGreaterThan(0);
    expect(bIds.length).toBeGreaterThan(0);
    expect(ids.filter((id) => bIds.includes(id))).toEqual([]);
  });

  it('random substrings of the names and random strings of awkward characters (property)', async () => {
    const flipCase = (s: string, mask: number) => [...s].map((c, i) => ((mask >> i % 30) & 1 ? c.toUpperCase() : c.toLowerCase())).join('');
    const substring = fc
      .tuple(fc.constantFrom(...names), fc.nat(), fc.nat(), fc.nat())
      .map(([n, a, b, mask]) => {
        const chars = [...n];
        const from = a % chars.length;
        return flipCase(chars.slice(from, from + 1 + (b % 8)).join(''), mask);
      });
    await fc.assert(
      fc.asyncProperty(fc.oneof(substring, word), async (q) => {
        await expectSameAsScan(A.firm.id, q);
      }),
      { numRuns: 60, seed: 42 },
    );
  });

  it('a broad search (more candidates than the selective plan takes) gives the scan results too', async () => {
    const firm = await firmWithAdmin(h);
    await insertUsers(
      firm.firm.id,
      Array.from({ length: SELECTIVE_MAX + 50 }, (_, i) => ({ name: `Broad Person ${String(i).padStart(5, '0')}`, email: `broad${i}@wide.example`, enrolled: i % 2 === 0 })),
    );
    for (const q of ['broad', 'wide.example', 'person 0', 'person 01', 'person 01234', 'zzz']) await expectSameAsScan(firm.firm.id, q);
    const page = await listEnrolled(h.ctx.db, firm.firm.id, { q: 'broad', page: 2, pageSize: 20 });
    expect(page.total).toBe(Math.ceil((SELECTIVE_MAX + 50) / 2));
    expect(page.items.map((u) => u.name)).toEqual(Array.from({ length: 20 }, (_, i) => `Broad Person ${String((20 + i) * 2).padStart(5, '0')}`));
  });
});

describe('the index follows the users table', () => {
  it('a renamed user is found by the new name only; a removed user is not found', async () => {
    const firm = await firmWithAdmin(h);
    const u = await addUser(h, firm.firm.id, { name: 'Original Name', email: 'renamed@example.com', kind: 'case_manager' });
    const names = async (q: string) => (await listUsers(h.ctx.db, firm.firm.id, { q }, now)).items.map((x) => x.name);
    expect(await names('original')).toEqual(['Original Name']);
    await h.ctx.db.updateTable('users').set({ name: 'Replacement Person', email: 'replaced@example.org' }).where('id', '=', u.id).execute();
    expect(await names('original')).toEqual([]);
    expect(await names('renamed@')).toEqual([]);
    expect(await names('replacement')).toEqual(['Replacement Person']);
    expect(await names('replaced@example.org')).toEqual(['Replacement Person']);
    // Changing another column leaves the index alone (the trigger is on name and email).
    await h.ctx.db.updateTable('users').set({ mfa_failed_count: 3 }).where('id', '=', u.id).execute();
    expect(await names('replacement')).toEqual(['Replacement Person']);
    await h.ctx.db.deleteFrom('users').where('id', '=', u.id).execute();
    expect(await names('replacement')).toEqual([]);
  });

  it('a removed firm takes its users out of the index (ON DELETE CASCADE fires the trigger)', async () => {
    const firm = await firmWithAdmin(h);
    await insertUsers(firm.firm.id, [{ name: 'Cascade Victim', email: 'cascade@example.com' }]);
    await h.ctx.db.deleteFrom('firms').where('id', '=', firm.firm.id).execute();
    if (isPostgres(h.ctx.db)) {
      // The pg_trgm indexes are ordinary indexes on users: nothing to keep in step.
      const idx = await sql<{ indexname: string }>`select indexname from pg_indexes where tablename = 'users' and indexname like '%trgm%' and schemaname = current_schema() order by indexname`.execute(h.ctx.db);
      expect(idx.rows.map((r) => r.indexname)).toEqual(['users_email_trgm_idx', 'users_name_trgm_idx']);
    } else {
      const counts = await sql<{ users: number; fts: number; rowids: number }>`select (select count(*) from users) as users, (select count(*) from users_fts) as fts, (select count(*) from user_search_rowids) as rowids`.execute(h.ctx.db);
      const c = counts.rows[0]!;
      expect(c.fts).toBe(c.users);
      expect(c.rowids).toBe(c.users);
      const stale = await sql<{ n: number }>`select count(*) as n from users_fts where users_fts match '"cascade victim"'`.execute(h.ctx.db);
      expect(stale.rows[0]!.n).toBe(0);
    }
  });
});
