import { Readable } from 'node:stream';
import type { ExpressionBuilder, SelectQueryBuilder } from 'kysely';
import { containsText } from '../db/constraints.js';
import type { Database, DbOrTx } from '../db/database.js';
import { AppError } from '../core/errors.js';
import { AUDIT_CATEGORIES, AUDIT_EVENT_NAMES, AUDIT_EVENTS, AUDIT_FACTORS, classify, parseDetails, type AuditCategory, type AuditEventName, type AuditFactor, type AuditResult } from './audit.catalogue.js';
import type { AuditEvent } from './audit.table.js';

/**
 * The audit log as its readers see it (issue 8.1): a firm's superusers read their firm's
 * events; the operator reads the platform's (events of no firm, and every operator action).
 * Both screens and both CSV exports go through `filtered`, so the scope is applied in one
 * place and no filter can widen it.
 */
export type AuditScope = { kind: 'firm'; firmId: string } | { kind: 'platform' };

export interface AuditFilters {
  /** Epoch ms, inclusive. */
  from?: number;
  to?: number;
  /** One user's events: what they did and what was done to them. */
  userId?: string;
  /** Users whose email or name contains this text. */
  user?: string;
  event?: AuditEventName;
  result?: AuditResult;
  factor?: AuditFactor;
  /** true: failures and suspicious events only ("Needs attention"). */
  attention?: boolean;
  /** One application's events (its page's "last calls"); the scope still applies. */
  applicationId?: string;
  /** Leave out the events of these categories (e.g. the administration of the application itself). */
  excludeCategories?: readonly AuditCategory[];
}

/** A person or thing an event names, with a name where we still know one. */
export interface AuditParty {
  type: string;
  id: string | null;
  name: string | null;
  email: string | null;
}

export interface AuditEventView {
  id: number;
  at: number;
  event: string;
  label: string;
  category: AuditCategory;
  result: AuditResult;
  factor: AuditFactor | null;
  attention: boolean;
  /** The badge of a row that needs attention ("Replay", "Lockout", "Failed"...). */
  flag: string | null;
  actor: AuditParty;
  subject: AuditParty | null;
  /** The firm an event belongs to; only in the platform scope (a firm's own log is all its own). */
  firm: { id: string; name: string | null; slug: string | null } | null;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
}

export interface AuditPage {
  items: AuditEventView[];
  /** Matching events, counted up to COUNT_LIMIT. */
  total: number;
  /** More than COUNT_LIMIT events match: `total` is COUNT_LIMIT. */
  totalCapped: boolean;
  page: number;
  pageSize: number;
}

/**
 * A page is chosen by offset, like every other admin list, but a log grows without end:
 * counting and skipping stop at 10,000 events. Further back, narrow the time range (the
 * index then starts there) or export CSV, which walks by keyset.
 */
export const COUNT_LIMIT = 10_000;
/** The most events one CSV export holds, newest first. */
export const EXPORT_LIMIT = 100_000;
const EXPORT_BATCH = 1_000;

type AuditQuery = SelectQueryBuilder<Database, 'audit_events', object>;

/** The scope, then each filter given; always the same shape whatever reads it. */
function filtered(db: DbOrTx, scope: AuditScope, f: AuditFilters): AuditQuery {
  let q = db.selectFrom('audit_events') as AuditQuery;
  q =
    scope.kind === 'firm'
      ? q.where('audit_events.firm_id', '=', scope.firmId)
      : q.where((eb) => eb.or([eb('audit_events.firm_id', 'is', null), eb('audit_events.actor_type', '=', 'operator')]));
  if (f.from !== undefined) q = q.where('audit_events.at', '>=', f.from);
  if (f.to !== undefined) q = q.where('audit_events.at', '<=', f.to);
  if (f.event) q = q.where('audit_events.event', '=', f.event);
  if (f.result) q = q.where('audit_events.result', '=', f.result);
  if (f.factor) q = q.where('audit_events.factor', '=', f.factor);
  if (f.attention !== undefined) q = q.where('audit_events.attention', '=', f.attention ? 1 : 0);
  if (f.applicationId) q = q.where('audit_events.application_id', '=', f.applicationId);
  if (f.excludeCategories?.length) {
    const excluded = AUDIT_EVENT_NAMES.filter((e) => f.excludeCategories!.includes(AUDIT_EVENTS[e].category));
    if (excluded.length) q = q.where('audit_events.event', 'not in', excluded);
  }
  if (f.userId) {
    const id = f.userId;
    q = q.where((eb) => eb.or([eb('audit_events.actor_id', '=', id), eb('audit_events.subject_id', '=', id)]));
  }
  const text = f.user?.trim();
  if (text) q = q.where((eb) => eb.or([eb('audit_events.actor_id', 'in', peopleMatching(eb, scope, text)), eb('audit_events.subject_id', 'in', peopleMatching(eb, scope, text))]));
  return q;
}

/** Ids of the people whose email or name contains `text`: the firm's users, or on the platform any user and the operators. */
function peopleMatching(eb: ExpressionBuilder<Database, 'audit_events'>, scope: AuditScope, text: string) {
  const users = eb
    .selectFrom('users')
    .select('users.id')
    .where((w) => w.or([containsText('users.email', text), containsText('users.name', text)]));
  if (scope.kind === 'firm') return users.where('users.firm_id', '=', scope.firmId);
  return users.union(
    eb
      .selectFrom('operators')
      .select('operators.id')
      .where((w) => w.or([containsText('operators.email', text), containsText('operators.name', text)])),
  );
}

/** From > to is a mistake of the caller, said as such rather than answered with nothing. */
function checkRange(f: AuditFilters): void {
  if (f.from !== undefined && f.to !== undefined && f.from > f.to) {
    throw new AppError('INVALID_TIME_RANGE', 'The start of the time range is after its end.');
  }
}

/** Newest first; the id breaks ties within one millisecond. */
const newestFirst = <O>(q: SelectQueryBuilder<Database, 'audit_events', O>) => q.orderBy('audit_events.at', 'desc').orderBy('audit_events.id', 'desc');

export async function listAuditEvents(db: DbOrTx, scope: AuditScope, f: AuditFilters & { page?: number; pageSize?: number }): Promise<AuditPage> {
  checkRange(f);
  const page = f.page ?? 1;
  const pageSize = f.pageSize ?? 20;
  const offset = (page - 1) * pageSize;
  if (offset >= COUNT_LIMIT) {
    throw new AppError(
      'PAGE_TOO_DEEP',
      `Only the newest ${COUNT_LIMIT.toLocaleString('en')} matching events can be paged through. Narrow the time range, or export CSV.`,
    );
  }
  const counted = await db
    .selectFrom(filtered(db, scope, f).select('audit_events.id').limit(COUNT_LIMIT + 1).as('m'))
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  const n = Number(counted.n);
  const total = Math.min(n, COUNT_LIMIT);
  if (offset >= total) return { items: [], total, totalCapped: n > COUNT_LIMIT, page, pageSize };
  const rows = await newestFirst(filtered(db, scope, f).selectAll('audit_events')).limit(pageSize).offset(offset).execute();
  return { items: await views(db, scope, rows), total, totalCapped: n > COUNT_LIMIT, page, pageSize };
}

/**
 * Every matching event, newest first, at most `limit`, in batches: each batch is one query
 * that continues after the last row of the one before (keyset on at, id), so an export
 * holds no transaction open, reads no row twice and costs the same on its last batch as on
 * its first.
 */
async function* eventBatches(db: DbOrTx, scope: AuditScope, f: AuditFilters, limit: number): AsyncGenerator<AuditEventView[]> {
  let last: { at: number; id: number } | null = null;
  let left = limit;
  while (left > 0) {
    let q = filtered(db, scope, f).selectAll('audit_events');
    if (last) {
      const { at, id } = last;
      q = q.where((eb) => eb.or([eb('audit_events.at', '<', at), eb.and([eb('audit_events.at', '=', at), eb('audit_events.id', '<', id)])]));
    }
    const rows = await newestFirst(q).limit(Math.min(EXPORT_BATCH, left)).execute();
    if (rows.length === 0) return;
    yield await views(db, scope, rows);
    const end = rows[rows.length - 1]!;
    last = { at: Number(end.at), id: Number(end.id) };
    left -= rows.length;
    if (rows.length < EXPORT_BATCH) return;
  }
}

export interface AuditExport {
  /** More events match than the export holds (it has the newest EXPORT_LIMIT). */
  truncated: boolean;
  /** The CSV text, streamed batch by batch. */
  stream: Readable;
}

/** The CSV export of the same filters, header first, at most EXPORT_LIMIT rows. */
export async function exportAuditEvents(db: DbOrTx, scope: AuditScope, f: AuditFilters, limit = EXPORT_LIMIT): Promise<AuditExport> {
  checkRange(f);
  const over = await filtered(db, scope, f).select('audit_events.id').orderBy('audit_events.at', 'desc').limit(1).offset(limit).executeTakeFirst();
  const columns = scope.kind === 'platform' ? CSV_COLUMNS : CSV_COLUMNS.filter((c) => !c.platformOnly);
  async function* lines(): AsyncGenerator<string> {
    yield csvLine(columns.map((c) => c.header));
    for await (const batch of eventBatches(db, scope, f, limit)) yield batch.map((e) => csvLine(columns.map((c) => c.value(e)))).join('');
  }
  return { truncated: over !== undefined, stream: Readable.from(lines()) };
}

// --- CSV ------------------------------------------------------------------------------

interface CsvColumn {
  header: string;
  value(e: AuditEventView): string | null;
  platformOnly?: true;
}

const CSV_COLUMNS: CsvColumn[] = [
  { header: 'Time (UTC)', value: (e) => new Date(e.at).toISOString() },
  { header: 'Firm', value: (e) => e.firm?.slug ?? e.firm?.id ?? null, platformOnly: true },
  { header: 'Event', value: (e) => e.event },
  { header: 'Description', value: (e) => e.label },
  { header: 'Category', value: (e) => AUDIT_CATEGORIES[e.category] },
  { header: 'Result', value: (e) => e.result },
  { header: 'Factor', value: (e) => (e.factor ? AUDIT_FACTORS[e.factor] : null) },
  { header: 'Needs attention', value: (e) => (e.attention ? `yes: ${e.flag}` : 'no') },
  { header: 'Actor type', value: (e) => e.actor.type },
  { header: 'Actor ID', value: (e) => e.actor.id },
  { header: 'Actor', value: (e) => e.actor.name },
  { header: 'Actor email', value: (e) => e.actor.email },
  { header: 'Subject type', value: (e) => e.subject?.type ?? null },
  { header: 'Subject ID', value: (e) => e.subject?.id ?? null },
  { header: 'Subject', value: (e) => e.subject?.name ?? null },
  { header: 'Subject email', value: (e) => e.subject?.email ?? null },
  { header: 'IP address', value: (e) => e.ip },
  { header: 'User agent', value: (e) => e.userAgent },
  { header: 'Details', value: (e) => JSON.stringify(e.details) },
];

/**
 * One CSV cell (RFC 4180: always quoted, quotes doubled). A cell that a spreadsheet would
 * run as a formula (= + - @, or a tab or carriage return before one) gets a leading
 * apostrophe (OWASP "CSV injection"): user agents, names and labels are typed by others.
 */
export function csvCell(value: string | null): string {
  if (value === null) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

const csvLine = (cells: (string | null)[]) => `${cells.map(csvCell).join(',')}\r\n`;

// --- Rows to views ----------------------------------------------------------------------

/** Names of the people, corporations and firms a page of events names, three queries at most, all scoped. */
async function views(db: DbOrTx, scope: AuditScope, rows: AuditEvent[]): Promise<AuditEventView[]> {
  const ids = (type: string) => [
    ...new Set(
      rows.flatMap((r) => [r.actor_type === type ? r.actor_id : null, r.subject_type === type ? r.subject_id : null]).filter((x): x is string => x !== null),
    ),
  ];
  const firmScope = scope.kind === 'firm' ? scope.firmId : null;
  const people = new Map<string, { name: string; email: string }>();
  const userIds = ids('user');
  if (userIds.length) {
    let q = db.selectFrom('users').select(['id', 'name', 'email']).where('id', 'in', userIds);
    if (firmScope) q = q.where('firm_id', '=', firmScope);
    for (const u of await q.execute()) people.set(`user:${u.id}`, u);
  }
  // A firm's log does not name the platform's staff: an operator action shows as "Platform operator".
  const operatorIds = firmScope ? [] : ids('operator');
  if (operatorIds.length) {
    for (const o of await db.selectFrom('operators').select(['id', 'name', 'email']).where('id', 'in', operatorIds).execute()) people.set(`operator:${o.id}`, o);
  }
  // Corporations and applications a row is about, by their current name (a deleted one has none; its details keep the name).
  for (const [type, table] of [['corporation', 'corporations'], ['application', 'applications']] as const) {
    const subjectIds = [...new Set(rows.filter((r) => r.subject_type === type && r.subject_id).map((r) => r.subject_id!))];
    if (subjectIds.length === 0) continue;
    let q = db.selectFrom(table).select(['id', 'name']).where('id', 'in', subjectIds);
    if (firmScope) q = q.where('firm_id', '=', firmScope);
    for (const c of await q.execute()) people.set(`${type}:${c.id}`, { name: c.name, email: '' });
  }
  const firms = new Map<string, { name: string; slug: string }>();
  const firmIds = firmScope ? [] : [...new Set(rows.map((r) => r.firm_id).filter((x): x is string => x !== null))];
  if (firmIds.length) for (const f of await db.selectFrom('firms').select(['id', 'name', 'slug']).where('id', 'in', firmIds).execute()) firms.set(f.id, f);

  const party = (type: string, id: string | null): AuditParty => {
    if (firmScope && type === 'operator') return { type, id: null, name: 'Platform operator', email: null };
    const known = id ? people.get(`${type}:${id}`) : undefined;
    return { type, id, name: known?.name ?? null, email: known?.email || null };
  };

  return rows.map((r) => {
    const details = parseDetails(r.details);
    const c = classify(r.event, details);
    const firm = !firmScope && r.firm_id ? { id: r.firm_id, name: firms.get(r.firm_id)?.name ?? null, slug: firms.get(r.firm_id)?.slug ?? null } : null;
    return {
      id: Number(r.id),
      at: Number(r.at),
      event: r.event,
      label: c.label,
      category: c.category,
      // Filters read the stored columns; the view shows the same, so a row always matches what it says.
      result: r.result,
      factor: r.factor,
      attention: r.attention === 1,
      flag: r.attention === 1 ? (c.flag ?? 'Failed') : null,
      actor: party(r.actor_type, r.actor_id),
      subject: r.subject_type ? party(r.subject_type, r.subject_id) : null,
      firm,
      ip: r.ip,
      userAgent: r.user_agent,
      details,
    };
  });
}
