import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, isPostgres, type Db } from '../src/db/database.js';
import { releaseSeat, takeSeat, type SeatResult } from '../src/subscriptions/seat.service.js';
import {
  activateSubscription,
  addUser,
  enrollForTest,
  firmWithAdmin,
  operatorAgent,
  startHarness,
  type Agent,
  type Harness,
  type TestFirm,
} from './support/harness.js';
import { uniqueEmail } from './support/fixtures.js';

/**
 * Seats (reference A.2.7) and the usage mails (A.2.8). A seat is taken in the transaction that
 * confirms a user's first authenticator; the enrolled count can never pass the licence count,
 * however many confirmations race, on SQLite and on PostgreSQL from several connection pools.
 */

let h: Harness;
let operator: Agent;

beforeAll(async () => {
  h = await startHarness();
  operator = await operatorAgent(h);
});
afterAll(() => h.close());

/** A firm on an active subscription with `licences` licences. */
async function firm(licences: number): Promise<TestFirm> {
  const f = await firmWithAdmin(h);
  await activateSubscription(h, f.firm.id, licences);
  return f;
}

async function users(firmId: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await addUser(h, firmId, { name: `User ${i}`, email: uniqueEmail('u'), kind: 'case_manager' }, null)).id);
  return ids;
}

/** enrollForTest on a given connection pool: an authenticator and a seat in one transaction, rolled back on no_seat. */
async function enrollOn(db: Db, firmId: string, userId: string): Promise<SeatResult> {
  class NoSeat extends Error {}
  try {
    return await db.transaction().execute(async (tx) => {
      const now = h.clock.now();
      await tx
        .insertInto('authenticators')
        .values({ id: randomUUID(), firm_id: firmId, user_id: userId, kind: 'totp', label: 'totp', status: 'active', created_at: now, confirmed_at: now, last_used_at: null })
        .execute();
      const result = await takeSeat(h.ctx, tx, firmId, userId);
      if (result === 'no_seat') throw new NoSeat();
      return result;
    });
  } catch (err) {
    if (err instanceof NoSeat) return 'no_seat';
    throw err;
  }
}

async function counts(firmId: string) {
  const db = h.ctx.db;
  const sub = await db.selectFrom('subscriptions').selectAll().where('firm_id', '=', firmId).executeTakeFirstOrThrow();
  const seats = await db.selectFrom('seats').select((eb) => eb.fn.countAll<number>().as('n')).where('firm_id', '=', firmId).executeTakeFirstOrThrow();
  const auths = await db.selectFrom('authenticators').select((eb) => eb.fn.countAll<number>().as('n')).where('firm_id', '=', firmId).executeTakeFirstOrThrow();
  return { seatsUsed: sub.seats_used, seatRows: Number(seats.n), authenticators: Number(auths.n), alert80: sub.alert_80_sent, alert100: sub.alert_100_sent };
}

const tally = (results: SeatResult[]) => ({
  taken: results.filter((r) => r === 'taken').length,
  already_held: results.filter((r) => r === 'already_held').length,
  no_seat: results.filter((r) => r === 'no_seat').length,
});

/** Usage mails of a firm, by recipient and percent. */
async function usageMails(f: TestFirm) {
  const rows = await h.ctx.db
    .selectFrom('mail_outbox')
    .select(['to_address', 'subject'])
    .where('firm_id', '=', f.firm.id)
    .where('subject', 'like', 'MFA licence usage of %')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ to: r.to_address, percent: Number(/reached (\d+)%/.exec(r.subject)![1]) }));
}

describe('takeSeat under concurrency', () => {
  it('200 concurrent enrollments for 50 licences: exactly 50 seats', async () => {
    const f = await firm(50);
    const ids = await users(f.firm.id, 200);
    // On PostgreSQL, from two separate connection pools (two processes' worth of connections).
    const second = isPostgres(h.ctx.db) ? createDatabase(h.ctx.config.database) : null;
    try {
      const results = await Promise.all(ids.map((id, i) => enrollOn(second && i % 2 === 1 ? second : h.ctx.db, f.firm.id, id)));
      expect(tally(results)).toEqual({ taken: 50, already_held: 0, no_seat: 150 });
    } finally {
      await second?.destroy();
    }
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 50, seatRows: 50, authenticators: 50 });
    // The users holding seats are exactly those whose authenticator survived.
    const holders = await h.ctx.db.selectFrom('seats').select('user_id').where('firm_id', '=', f.firm.id).orderBy('user_id').execute();
    const enrolled = await h.ctx.db.selectFrom('authenticators').select('user_id').where('firm_id', '=', f.firm.id).orderBy('user_id').execute();
    expect(holders).toEqual(enrolled);
    // One more is refused too.
    const [extra] = await users(f.firm.id, 1);
    expect(await enrollForTest(h, f.firm.id, extra!)).toBe('no_seat');
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 50, seatRows: 50 });
  });

  it('the same user confirming twice at once takes one seat', async () => {
    const f = await firm(5);
    const [u] = await users(f.firm.id, 1);
    const second = isPostgres(h.ctx.db) ? createDatabase(h.ctx.config.database) : null;
    try {
      const results = await Promise.all([enrollOn(h.ctx.db, f.firm.id, u!), enrollOn(second ?? h.ctx.db, f.firm.id, u!), enrollOn(h.ctx.db, f.firm.id, u!)]);
      expect(tally(results)).toEqual({ taken: 1, already_held: 2, no_seat: 0 });
    } finally {
      await second?.destroy();
    }
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 1, seatRows: 1, authenticators: 3 });
  });

  it('no seat without an active subscription', async () => {
    const f = await firm(5);
    await h.ctx.db.updateTable('subscriptions').set({ state: 'suspended' }).where('firm_id', '=', f.firm.id).execute();
    const [u] = await users(f.firm.id, 1);
    expect(await enrollForTest(h, f.firm.id, u!)).toBe('no_seat');
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 0, seatRows: 0, authenticators: 0 });
  });
});

describe('a seat per user', () => {
  it("a user's second and third authenticators take no extra seat", async () => {
    const f = await firm(3);
    const [u] = await users(f.firm.id, 1);
    expect(await enrollForTest(h, f.firm.id, u!, 'totp')).toBe('taken');
    expect(await enrollForTest(h, f.firm.id, u!, 'push')).toBe('already_held');
    expect(await enrollForTest(h, f.firm.id, u!, 'webauthn')).toBe('already_held');
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 1, seatRows: 1, authenticators: 3 });
  });

  it('a user who holds a seat adds an authenticator even when all seats are taken', async () => {
    const f = await firm(1);
    const [u, v] = await users(f.firm.id, 2);
    expect(await enrollForTest(h, f.firm.id, u!)).toBe('taken');
    expect(await enrollForTest(h, f.firm.id, v!)).toBe('no_seat');
    expect(await enrollForTest(h, f.firm.id, u!, 'webauthn')).toBe('already_held');
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 1, seatRows: 1, authenticators: 2 });
  });
});

describe('releaseSeat', () => {
  it('frees exactly one seat, once; a user without a seat frees nothing', async () => {
    const f = await firm(5);
    const [u, v, w] = await users(f.firm.id, 3);
    await enrollForTest(h, f.firm.id, u!);
    await enrollForTest(h, f.firm.id, v!);
    const release = (userId: string, firmId = f.firm.id) => h.ctx.db.transaction().execute((tx) => releaseSeat(h.ctx, tx, firmId, userId));
    expect(await release(u!)).toBe(true);
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 1, seatRows: 1 });
    expect(await release(u!)).toBe(false);
    expect(await release(w!)).toBe(false);
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 1, seatRows: 1 });
    // Another firm's id frees nothing of this firm.
    const other = await firm(5);
    expect(await release(v!, other.firm.id)).toBe(false);
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 1, seatRows: 1 });
    // The freed seat can be taken again.
    expect(await enrollForTest(h, f.firm.id, w!)).toBe('taken');
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 2, seatRows: 2 });
  });

  it('never goes below zero, even with a seat row the counter does not know of', async () => {
    const f = await firm(5);
    const [u] = await users(f.firm.id, 1);
    await h.ctx.db.insertInto('seats').values({ user_id: u!, firm_id: f.firm.id, taken_at: h.clock.now() }).execute();
    expect(await h.ctx.db.transaction().execute((tx) => releaseSeat(h.ctx, tx, f.firm.id, u!))).toBe(true);
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 0, seatRows: 0 });
  });

  it('concurrent releases of the same seat free it once', async () => {
    const f = await firm(5);
    const [u, v] = await users(f.firm.id, 2);
    await enrollForTest(h, f.firm.id, u!);
    await enrollForTest(h, f.firm.id, v!);
    const second = isPostgres(h.ctx.db) ? createDatabase(h.ctx.config.database) : null;
    try {
      const results = await Promise.all(
        [h.ctx.db, second ?? h.ctx.db, h.ctx.db].map((db) => db.transaction().execute((tx) => releaseSeat(h.ctx, tx, f.firm.id, u!))),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    } finally {
      await second?.destroy();
    }
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 1, seatRows: 1 });
  });
});

describe('usage mails (A.2.8)', () => {
  /** A firm with 10 licences, two active superusers, a disabled superuser and a plain case manager. */
  async function watchedFirm(licences: number) {
    const f = await firm(licences);
    const sue = await addUser(h, f.firm.id, { name: 'Sue Second', email: uniqueEmail('sue'), kind: 'case_manager', isSuperuser: true }, null);
    const dora = await addUser(h, f.firm.id, { name: 'Dora Disabled', email: uniqueEmail('dora'), kind: 'case_manager', isSuperuser: true }, null);
    await h.ctx.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', dora.id).execute();
    const supers = [f.superuser.email, sue.email].sort();
    return { f, supers };
  }
  const to = (supers: string[], percent: number) => supers.map((s) => ({ to: s, percent }));
  const sorted = (mails: { to: string; percent: number }[]) => [...mails].sort((a, b) => a.percent - b.percent || a.to.localeCompare(b.to));

  it('80% and 100% mail each active superuser once per upward crossing; falling back re-arms', async () => {
    const { f, supers } = await watchedFirm(10);
    const ids = await users(f.firm.id, 11);
    const enrol = (i: number) => enrollForTest(h, f.firm.id, ids[i]!);
    const release = (i: number) => h.ctx.db.transaction().execute((tx) => releaseSeat(h.ctx, tx, f.firm.id, ids[i]!));

    for (let i = 0; i < 7; i++) expect(await enrol(i)).toBe('taken');
    expect(await usageMails(f)).toEqual([]);

    expect(await enrol(7)).toBe('taken'); // 8 of 10: 80%
    expect(sorted(await usageMails(f))).toEqual(to(supers, 80));
    const subjects = await h.ctx.db.selectFrom('mail_outbox').select('subject').where('firm_id', '=', f.firm.id).where('subject', 'like', 'MFA licence usage%').execute();
    expect(subjects.map((s) => s.subject)).toEqual([`MFA licence usage of ${f.firm.name} has reached 80%`, `MFA licence usage of ${f.firm.name} has reached 80%`]);
    expect(await counts(f.firm.id)).toMatchObject({ alert80: 1, alert100: 0 });

    expect(await enrol(8)).toBe('taken'); // 9: nothing new
    expect(await usageMails(f)).toHaveLength(2);

    expect(await enrol(9)).toBe('taken'); // 10: 100%
    expect(sorted(await usageMails(f))).toEqual([...to(supers, 80), ...to(supers, 100)]);
    expect(await enrol(10)).toBe('no_seat'); // refused: nothing new
    expect(await usageMails(f)).toHaveLength(4);

    // Down to 9: 100% re-armed; down to 7: 80% re-armed.
    await release(9);
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 9, alert80: 1, alert100: 0 });
    await release(8);
    await release(7);
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 7, alert80: 0, alert100: 0 });
    expect(await usageMails(f)).toHaveLength(4);

    // Back to 8: mailed again; and 10 again.
    expect(await enrol(7)).toBe('taken');
    expect(sorted(await usageMails(f))).toEqual(sorted([...to(supers, 80), ...to(supers, 100), ...to(supers, 80)]));
    expect(await enrol(8)).toBe('taken');
    expect(await enrol(9)).toBe('taken');
    expect(sorted(await usageMails(f))).toEqual(sorted([...to(supers, 80), ...to(supers, 100), ...to(supers, 80), ...to(supers, 100)]));
  });

  it('raising the licence count through the operator re-arms both; crossing again mails again', async () => {
    const { f, supers } = await watchedFirm(10);
    const ids = await users(f.firm.id, 17);
    for (let i = 0; i < 10; i++) expect(await enrollForTest(h, f.firm.id, ids[i]!)).toBe('taken');
    expect(await counts(f.firm.id)).toMatchObject({ alert80: 1, alert100: 1 });
    expect(await usageMails(f)).toHaveLength(4);

    // 10 of 11 is still over 80%: only the 100% alert re-arms.
    let res = await operator.post(`/api/v1/operator/subscriptions/${f.firm.id}/activate`, { planName: 'Test plan', licenceCount: 11 });
    expect(res.statusCode, res.body).toBe(200);
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 10, alert80: 1, alert100: 0 });

    res = await operator.post(`/api/v1/operator/subscriptions/${f.firm.id}/activate`, { planName: 'Test plan', licenceCount: 20 });
    expect(res.statusCode, res.body).toBe(200);
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 10, alert80: 0, alert100: 0 });
    expect(await usageMails(f)).toHaveLength(4);

    for (let i = 10; i < 15; i++) expect(await enrollForTest(h, f.firm.id, ids[i]!)).toBe('taken');
    expect(await usageMails(f)).toHaveLength(4); // 15 of 20: 75%
    expect(await enrollForTest(h, f.firm.id, ids[15]!)).toBe('taken'); // 16 of 20: 80%
    expect(sorted(await usageMails(f))).toEqual(sorted([...to(supers, 80), ...to(supers, 100), ...to(supers, 80)]));
  });

  it('lowering the licence count through the operator can cross 80% upwards: mailed', async () => {
    const { f, supers } = await watchedFirm(10);
    const ids = await users(f.firm.id, 4);
    for (const id of ids) await enrollForTest(h, f.firm.id, id);
    const res = await operator.post(`/api/v1/operator/subscriptions/${f.firm.id}/activate`, { planName: 'Test plan', licenceCount: 5 });
    expect(res.statusCode, res.body).toBe(200);
    expect(sorted(await usageMails(f))).toEqual(to(supers, 80));
  });

  it('20 concurrent enrollments crossing 80%: exactly one mail per superuser', async () => {
    const { f, supers } = await watchedFirm(50);
    const ids = await users(f.firm.id, 45);
    for (let i = 0; i < 25; i++) expect(await enrollForTest(h, f.firm.id, ids[i]!)).toBe('taken');
    expect(await usageMails(f)).toEqual([]);
    const second = isPostgres(h.ctx.db) ? createDatabase(h.ctx.config.database) : null;
    try {
      const results = await Promise.all(ids.slice(25).map((id, i) => enrollOn(second && i % 2 ? second : h.ctx.db, f.firm.id, id)));
      expect(tally(results)).toEqual({ taken: 20, already_held: 0, no_seat: 0 });
    } finally {
      await second?.destroy();
    }
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 45, seatRows: 45, alert80: 1, alert100: 0 });
    expect(sorted(await usageMails(f))).toEqual(to(supers, 80));
  });

  it('20 concurrent enrollments for the last 5 licences: one 80% and one 100% mail per superuser', async () => {
    const { f, supers } = await watchedFirm(25);
    const ids = await users(f.firm.id, 40);
    for (let i = 0; i < 20; i++) expect(await enrollForTest(h, f.firm.id, ids[i]!)).toBe('taken'); // 80% already
    const second = isPostgres(h.ctx.db) ? createDatabase(h.ctx.config.database) : null;
    try {
      const results = await Promise.all(ids.slice(20).map((id, i) => enrollOn(second && i % 2 ? second : h.ctx.db, f.firm.id, id)));
      expect(tally(results)).toEqual({ taken: 5, already_held: 0, no_seat: 15 });
    } finally {
      await second?.destroy();
    }
    expect(await counts(f.firm.id)).toMatchObject({ seatsUsed: 25, seatRows: 25, alert80: 1, alert100: 1 });
    expect(sorted(await usageMails(f))).toEqual([...to(supers, 80), ...to(supers, 100)]);
  });
});
