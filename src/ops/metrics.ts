import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppContext } from '../context.js';
import type { LoginMethod } from '../factors/kinds.js';

/** Which step of a login a result belongs to: the password, one of the second factors, or a passkey (both at once). */
export type LoginFactor = 'password' | LoginMethod | 'passkey';
/** `locked`: refused because the second factor is locked (or this attempt locked it); `firm_required`: right password, address in several firms. */
export type LoginResult = 'success' | 'failure' | 'throttled' | 'locked' | 'firm_required';
/** What became of a push request: sent, refused by the rate limit, or its answer. */
export type PushOutcome = 'sent' | 'limited' | 'approved' | 'denied' | 'fraud' | 'expired';

/**
 * The Prometheus metrics of one app (one context): its own Registry, so the many apps a
 * test process builds never collide in prom-client's global one. Services count with one
 * line, `metrics(ctx).login('totp', 'success')`, at the single place the result is known.
 */
export class Metrics {
  readonly registry = new Registry();
  private defaultsStarted = false;
  private readonly requests: Counter<'method' | 'route' | 'status_code'>;
  private readonly durations: Histogram<'method' | 'route' | 'status_code'>;
  private readonly logins: Counter<'factor' | 'result'>;
  private readonly pushes: Counter<'outcome'>;
  private readonly duoRefusals: Counter<'reason' | 'outcome'>;

  constructor(ctx: AppContext) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'tessera_http_requests_total',
      help: 'HTTP requests answered, by route pattern (never the raw URL) and status code.',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    });
    this.durations = new Histogram({
      name: 'tessera_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route pattern and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.logins = new Counter({
      name: 'tessera_logins_total',
      help: 'Login steps by factor (password, totp, backup_code, webauthn, push, passkey) and result.',
      labelNames: ['factor', 'result'],
      registers,
    });
    this.pushes = new Counter({
      name: 'tessera_pushes_total',
      help: 'Push requests by outcome: sent, limited (rate limit), approved, denied, fraud, expired.',
      labelNames: ['outcome'],
      registers,
    });
    this.duoRefusals = new Counter({
      name: 'tessera_duo_signature_refusals_total',
      help: 'Duo API requests of a known-format integration key refused for their signature (reason: wrong, stale, missing), audited or throttled (the audit writes one row per key and reason a minute).',
      labelNames: ['reason', 'outcome'],
      registers,
    });
    new Gauge({
      name: 'tessera_seats_used',
      help: 'Seats (enrolled users) per firm, read from the database at scrape time.',
      labelNames: ['firm'],
      registers,
      async collect() {
        this.reset();
        try {
          const rows = await ctx.db
            .selectFrom('subscriptions')
            .innerJoin('firms', 'firms.id', 'subscriptions.firm_id')
            .select(['firms.slug', 'subscriptions.seats_used'])
            .execute();
          for (const row of rows) this.set({ firm: row.slug }, Number(row.seats_used));
        } catch {
          // The database is unreachable: the scrape still reports the process metrics.
        }
      },
    });
  }

  /**
   * The Prometheus text. Node's default metrics (nodejs_eventloop_lag_*, memory, handles) start
   * at the first scrape: the event-loop monitor is a timer per app, and most apps (tests) are
   * never scraped; Prometheus scrapes every few seconds, so only the first scrape lacks them.
   */
  async scrape(): Promise<string> {
    if (!this.defaultsStarted) {
      this.defaultsStarted = true;
      collectDefaultMetrics({ register: this.registry });
    }
    return this.registry.metrics();
  }

  request(method: string, route: string, statusCode: number, seconds: number): void {
    const labels = { method, route, status_code: String(statusCode) };
    this.requests.inc(labels);
    this.durations.observe(labels, seconds);
  }

  login(factor: LoginFactor, result: LoginResult): void {
    this.logins.inc({ factor, result });
  }

  push(outcome: PushOutcome): void {
    this.pushes.inc({ outcome });
  }

  duoSignatureRefusal(reason: 'wrong' | 'stale' | 'missing', outcome: 'audited' | 'throttled'): void {
    this.duoRefusals.inc({ reason, outcome });
  }
}

const perContext = new WeakMap<AppContext, Metrics>();

/** The metrics of this context's app, made on first use. */
export function metrics(ctx: AppContext): Metrics {
  let m = perContext.get(ctx);
  if (!m) {
    m = new Metrics(ctx);
    perContext.set(ctx, m);
  }
  return m;
}
