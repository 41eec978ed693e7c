import { performance } from 'node:perf_hooks';
import { assertLoopback } from './load.js';

/**
 * A small HTTP driver for multi-step flows (a browser and an authenticator app taking turns,
 * long-polls, steps that depend on the previous answer), which autocannon's fixed request
 * sequences cannot express. Every request is timed and recorded under a kind; a status the
 * step does not expect, or a network error, is an error of that kind and ends the flow.
 */

export interface KindStats {
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ErrorSample {
  atS: number;
  kind: string;
  status: number | null;
  detail: string;
}

export class FlowError extends Error {}

export class Recorder {
  private readonly started = performance.now();
  private readonly latencies = new Map<string, number[]>();
  private readonly counts = new Map<string, number>();
  private readonly errorCounts = new Map<string, number>();
  private readonly minutes: { requests: number; errors: number; ms: number[] }[] = [];
  readonly errorSamples: ErrorSample[] = [];

  /** Seconds since the recorder started. */
  elapsedS(): number {
    return (performance.now() - this.started) / 1000;
  }

  private minute() {
    const m = Math.floor(this.elapsedS() / 60);
    while (this.minutes.length <= m) this.minutes.push({ requests: 0, errors: 0, ms: [] });
    return this.minutes[m]!;
  }

  ok(kind: string, ms: number): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    let l = this.latencies.get(kind);
    if (!l) this.latencies.set(kind, (l = []));
    l.push(ms);
    const m = this.minute();
    m.requests++;
    m.ms.push(ms);
  }

  /**
   * An error of a kind. `request` says what to count besides the error: an answered request
   * with a wrong status (its latency), a request that got no answer, or nothing (a check on
   * the content of a request recorded already).
   */
  error(kind: string, status: number | null, detail: string, request: { ms: number } | 'no-answer' | 'counted'): void {
    if (request === 'no-answer') {
      this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
      this.minute().requests++;
    } else if (request !== 'counted') this.ok(kind, request.ms);
    this.errorCounts.set(kind, (this.errorCounts.get(kind) ?? 0) + 1);
    this.minute().errors++;
    if (this.errorSamples.length < 20) this.errorSamples.push({ atS: Math.round(this.elapsedS()), kind, status, detail: detail.slice(0, 300) });
  }

  totalErrors(): number {
    return [...this.errorCounts.values()].reduce((a, b) => a + b, 0);
  }

  byKind(): Record<string, KindStats> {
    const kinds = [...new Set([...this.counts.keys(), ...this.errorCounts.keys()])].sort();
    return Object.fromEntries(
      kinds.map((k) => {
        const ms = (this.latencies.get(k) ?? []).slice().sort((a, b) => a - b);
        const errors = this.errorCounts.get(k) ?? 0;
        return [k, { requests: this.counts.get(k) ?? 0, errors, p50Ms: round(quantile(ms, 0.5)), p99Ms: round(quantile(ms, 0.99)), maxMs: round(ms.at(-1) ?? 0) }];
      }),
    );
  }

  /** Requests, errors and latency of every whole minute, to see drift (a leak slows things down before it crashes them). */
  perMinute(): { minute: number; requests: number; errors: number; p50Ms: number; p99Ms: number }[] {
    return this.minutes.map((m, i) => {
      const ms = m.ms.slice().sort((a, b) => a - b);
      return { minute: i + 1, requests: m.requests, errors: m.errors, p50Ms: round(quantile(ms, 0.5)), p99Ms: round(quantile(ms, 0.99)) };
    });
  }
}

const round = (x: number) => Math.round(x * 10) / 10;

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface Answer {
  status: number;
  body: unknown;
  setCookies: string[];
  /** Where a redirect points (redirects are not followed: a flow takes each hop as a step). */
  location: string | null;
}

export interface Call {
  kind: string;
  method: 'GET' | 'POST' | 'PUT';
  /** From the origin on: /api/v1/... */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** The statuses this step expects (anything else is an error). */
  expect: number[];
}

/** One request, timed and recorded; throws FlowError (already recorded) on anything unexpected. */
export async function call(rec: Recorder, origin: string, c: Call): Promise<Answer> {
  const started = performance.now();
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${origin}${c.path}`, {
      method: c.method,
      headers: { ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}), ...c.headers },
      body: c.body,
      redirect: 'manual',
    });
    text = await res.text();
  } catch (err) {
    rec.error(c.kind, null, `${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`, 'no-answer');
    throw new FlowError(c.kind);
  }
  const ms = performance.now() - started;
  if (!c.expect.includes(res.status)) {
    rec.error(c.kind, res.status, text, { ms });
    throw new FlowError(c.kind);
  }
  rec.ok(c.kind, ms);
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  return { status: res.status, body, setCookies: res.headers.getSetCookie(), location: res.headers.get('location') };
}

/** A check on an answer's content; a wrong one is an error of the step's kind. */
export function expectThat(rec: Recorder, kind: string, ok: boolean, detail: string): void {
  if (ok) return;
  rec.error(kind, null, detail, 'counted');
  throw new FlowError(kind);
}

/** A browser: a cookie jar (session and CSRF cookies), the CSRF token for state-changing requests. */
export class Browser {
  private readonly cookies = new Map<string, string>();
  private csrfToken = '';

  constructor(
    readonly rec: Recorder,
    readonly origin: string,
  ) {
    assertLoopback(origin);
  }

  cookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  async request(c: Omit<Call, 'headers'> & { headers?: Record<string, string> }): Promise<Answer> {
    const headers: Record<string, string> = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36 tessera-soak', ...c.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (c.method !== 'GET') headers['x-csrf-token'] = this.csrfToken;
    const a = await call(this.rec, this.origin, { ...c, headers });
    for (const sc of a.setCookies) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((x) => /^\s*max-age=0\s*$/i.test(x) || /^\s*expires=thu, 01 jan 1970/i.test(x));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return a;
  }

  /** What the login page does first: a CSRF token (and its cookie). */
  async csrf(): Promise<void> {
    const a = await this.request({ kind: 'csrf', method: 'GET', path: '/api/v1/csrf', expect: [200] });
    this.csrfToken = (a.body as { token: string }).token;
  }
}
