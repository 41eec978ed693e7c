import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HOUR, ManualClock } from '../src/clock.js';
import { ACCOUNT_POLICY, IP_POLICY, delayAfter, reserveAttempt, settleAttempt, type ThrottlePolicy } from '../src/core/throttle.js';
import { startHarness, type Harness } from './support/harness.js';

describe('growing delays', () => {
  it('are free at first, then double, up to the maximum', () => {
    const p: ThrottlePolicy = { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 8000, hourlyCap: 100 };
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20].map((n) => delayAfter(n, p))).toEqual([0, 0, 0, 1000, 2000, 4000, 8000, 8000, 8000]);
  });
});

describe('attempt throttling (database, injected clock)', () => {
  let h: Harness;
  const clock = new ManualClock(Date.UTC(2026, 10, 1));
  let n = 0;
  let key: string;
  beforeAll(async () => {
    h = await startHarness({ clock });
  });
  afterAll(() => h.close());
  beforeEach(() => {
    key = `acct-${++n}`;
  });

  const attempt = (k = key) => reserveAttempt(h.ctx.db, clock, [{ scope: 'account', key: k, policy: ACCOUNT_POLICY }]);
  const fail = async (k = key) => {
    const d = await attempt(k);
    if (!d.allowed) throw new Error(`refused after ${d.retryAfterMs} ms`);
    await settleAttempt(h.ctx.db, d.ticket, 'failure');
  };

  it('lets the free failures through, then asks to wait', async () => {
    for (let i = 0; i < ACCOUNT_POLICY.freeFailures; i++) await fail();
    const d = await attempt();
    expect(d).toEqual({ allowed: false, retryAfterMs: ACCOUNT_POLICY.baseDelayMs });
    clock.advance(ACCOUNT_POLICY.baseDelayMs);
    expect((await attempt()).allowed).toBe(true);
  });

  it('makes the delay grow with every further failure', async () => {
    for (let i = 0; i < ACCOUNT_POLICY.freeFailures; i++) await fail();
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const d = await attempt();
      expect(d.allowed).toBe(false);
      const wait = (d as { retryAfterMs: number }).retryAfterMs;
      waits.push(wait);
      clock.advance(wait);
      await fail();
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000]);
  });

  it('starts again after a success', async () => {
    for (let i = 0; i < ACCOUNT_POLICY.freeFailures; i++) await fail();
    clock.advance(ACCOUNT_POLICY.baseDelayMs);
    const ok = await attempt();
    expect(ok.allowed).toBe(true);
    await settleAttempt(h.ctx.db, (ok as { ticket: string[] }).ticket, 'success');
    expect((await attempt()).allowed).toBe(true);
  });

  it('never lets an account see more than 100 failures in an hour, however patient the attacker', async () => {
    let failures = 0;
    const start = clock.now();
    while (clock.now() - start < HOUR) {
      const d = await attempt();
      if (d.allowed) {
        await settleAttempt(h.ctx.db, d.ticket, 'failure');
        failures++;
      } else {
        clock.advance(d.retryAfterMs);
      }
    }
    expect(failures).toBeLessThanOrEqual(ACCOUNT_POLICY.hourlyCap);
    expect(failures).toBeGreaterThan(ACCOUNT_POLICY.freeFailures);
  });

  it('keeps to the hourly cap under a burst of concurrent attempts', async () => {
    const burst: ThrottlePolicy = { freeFailures: 1000, baseDelayMs: 0, maxDelayMs: 0, hourlyCap: 10 };
    const decisions = await Promise.all(
      Array.from({ length: 40 }, () => reserveAttempt(h.ctx.db, clock, [{ scope: 'account', key, policy: burst }])),
    );
    expect(decisions.filter((d) => d.allowed).length).toBeLessThanOrEqual(10);
  });

  it('does not refuse a good attempt because a concurrent one read the clock a moment later (found by the soak run)', async () => {
    // An office behind one address: two logins at once, no failure anywhere. The second
    // request read the clock 5 ms later but inserted its row first.
    const later = new ManualClock(clock.now() + 5);
    const second = await reserveAttempt(h.ctx.db, later, [{ scope: 'ip', key, policy: IP_POLICY }]);
    const first = await reserveAttempt(h.ctx.db, clock, [{ scope: 'ip', key, policy: IP_POLICY }]);
    expect(second.allowed).toBe(true);
    expect(first.allowed).toBe(true);
  });

  it('throttles by IP across many accounts', async () => {
    const ip = `ip-${n}`;
    let allowed = 0;
    for (let i = 0; i < IP_POLICY.freeFailures + 5; i++) {
      const d = await reserveAttempt(h.ctx.db, clock, [
        { scope: 'account', key: `${key}-${i}`, policy: ACCOUNT_POLICY },
        { scope: 'ip', key: ip, policy: IP_POLICY },
      ]);
      if (d.allowed) {
        allowed++;
        await settleAttempt(h.ctx.db, d.ticket, 'failure');
      }
    }
    expect(allowed).toBe(IP_POLICY.freeFailures);
  });

  it('forgets failures older than an hour', async () => {
    for (let i = 0; i < ACCOUNT_POLICY.freeFailures; i++) await fail();
    expect((await attempt()).allowed).toBe(false);
    clock.advance(HOUR + 1);
    expect((await attempt()).allowed).toBe(true);
  });
});
