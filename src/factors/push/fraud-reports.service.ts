import type { DbOrTx } from '../../db/database.js';
import { describeUserAgent } from './user-agent.js';
import type { PageOf } from '../../http/schemas.js';

/** One "It seemed fraudulent" answer, as the firm's superusers see it on the MFA page (issue 5.6). */
export interface FraudReportView {
  /** The push transaction's id. */
  id: string;
  userId: string;
  userName: string;
  email: string;
  /** When the user answered "It seemed fraudulent" (epoch ms). */
  reportedAt: number;
  /** IP address of the login that asked for the push. */
  ip: string | null;
  browser: string;
  os: string;
}

/**
 * The fraud reports of one firm, newest first: its push transactions the user denied as
 * fraudulent. The same facts the superusers were mailed (user, time, IP, browser), kept a
 * year by housekeeping. Scoped by firm on the transaction and again on the user, so a row
 * can never show another firm's user.
 */
export async function listFraudReports(db: DbOrTx, firmId: string, query: { page?: number; pageSize?: number }): Promise<PageOf<FraudReportView>> {
  const page = query.page ?? 1;
  const pageSize = query.pageSize ?? 20;
  const reports = db
    .selectFrom('push_transactions as t')
    .innerJoin('users', (j) => j.onRef('users.id', '=', 't.user_id').on('users.firm_id', '=', firmId))
    .where('t.firm_id', '=', firmId)
    .where('t.status', '=', 'fraud');

  const total = Number((await reports.select((eb) => eb.fn.countAll<number | string>().as('total')).executeTakeFirstOrThrow()).total);
  if ((page - 1) * pageSize >= total) return { items: [], total, page, pageSize };

  const rows = await reports
    .select(['t.id', 't.user_id', 'users.name', 'users.email', 't.answered_at', 't.created_at', 't.ip', 't.user_agent', 't.context'])
    .orderBy('t.answered_at', 'desc')
    .orderBy('t.id', 'desc')
    .limit(pageSize)
    .offset((page - 1) * pageSize)
    .execute();

  const items = rows.map((r) => ({
    id: r.id,
    userId: r.user_id,
    userName: r.name,
    email: r.email,
    // A fraud row is always answered; created_at only guards a hand-made row.
    reportedAt: Number(r.answered_at ?? r.created_at),
    ip: r.ip,
    ...browserAndOs(r.context, r.user_agent),
  }));
  return { items, total, page, pageSize };
}

/** Browser and OS as the push screen showed them (the transaction's context), else read again from the user agent. */
function browserAndOs(context: string, userAgent: string | null): { browser: string; os: string } {
  const described = describeUserAgent(userAgent);
  try {
    const parsed = JSON.parse(context) as { browser?: unknown; os?: unknown };
    return {
      browser: typeof parsed.browser === 'string' ? parsed.browser : described.browser,
      os: typeof parsed.os === 'string' ? parsed.os : described.os,
    };
  } catch {
    return described;
  }
}
