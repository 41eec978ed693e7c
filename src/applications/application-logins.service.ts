import { Type, type Static } from 'typebox';
import type { AppContext } from '../context.js';
import { loginTotals, utcDay, type LoginTotals } from '../core/login-counts.js';
import type { DbOrTx } from '../db/database.js';
import { literals } from '../http/schemas.js';
import { APPLICATION_STATUSES, APPLICATION_TYPES } from './application.table.js';

/**
 * "Logins per application" (issue 15 item 6), from the counters the core keeps per firm,
 * application and UTC day (core/login-counts.ts): the Usage section's table (every application
 * of the firm, with none, plus Tessera's own sign-in) and an application page's count.
 */

/** The periods a superuser can choose, in days (today, UTC, included). */
export const LOGIN_PERIODS = [7, 30, 90] as const;
export type LoginPeriod = (typeof LOGIN_PERIODS)[number];
export const LoginPeriodQuery = Type.Object(
  { days: Type.Optional(Type.Union(LOGIN_PERIODS.map((d) => Type.Literal(d)), { description: 'The last 7, 30 (default) or 90 days, today (UTC) included' })) },
  { additionalProperties: false },
);

const Counts = {
  logins: Type.Integer({ description: 'Logins completed' }),
  secondFactor: Type.Integer({ description: 'Of them, with a second factor' }),
  bypass: Type.Integer({ description: 'Of them, on the password alone because no licence was free (no-seat bypass)' }),
};
const Period = {
  days: Type.Integer(),
  from: Type.Integer({ description: 'The first day counted, 00:00 UTC (epoch ms)' }),
};

export const LoginsPerApplicationSchema = Type.Object({
  ...Period,
  rows: Type.Array(
    Type.Object({
      applicationId: Type.Union([Type.String(), Type.Null()], { description: "null: Tessera's own sign-in" }),
      name: Type.String(),
      type: literals(['tessera', ...APPLICATION_TYPES]),
      status: Type.Union([literals(APPLICATION_STATUSES), Type.Null()]),
      ...Counts,
    }),
  ),
});
export type LoginsPerApplication = Static<typeof LoginsPerApplicationSchema>;

export const ApplicationLoginsSchema = Type.Object({ ...Period, ...Counts });
export type ApplicationLogins = Static<typeof ApplicationLoginsSchema>;

const NONE: LoginTotals = { logins: 0, secondFactor: 0, bypass: 0 };
const period = (ctx: AppContext, days: LoginPeriod) => ({ days, from: (utcDay(ctx.clock.now()) - days + 1) * 86_400_000 });

/** Tessera's own sign-in first, then the firm's applications by name (those with no login too). */
export async function loginsPerApplication(ctx: AppContext, db: DbOrTx, firmId: string, days: LoginPeriod = 30): Promise<LoginsPerApplication> {
  const [totals, apps] = await Promise.all([
    loginTotals(db, firmId, ctx.clock.now(), days),
    db.selectFrom('applications').select(['id', 'name', 'type', 'status']).where('firm_id', '=', firmId).orderBy('name').orderBy('id').execute(),
  ]);
  return {
    ...period(ctx, days),
    rows: [
      { applicationId: null, name: 'Tessera sign-in', type: 'tessera' as const, status: null, ...(totals.get('') ?? NONE) },
      ...apps.map((a) => ({ applicationId: a.id, name: a.name, type: a.type, status: a.status, ...(totals.get(a.id) ?? NONE) })),
    ],
  };
}

/** One application's count (the caller checked it is the firm's). */
export async function applicationLogins(ctx: AppContext, db: DbOrTx, firmId: string, applicationId: string, days: LoginPeriod = 30): Promise<ApplicationLogins> {
  const totals = await loginTotals(db, firmId, ctx.clock.now(), days, applicationId);
  return { ...period(ctx, days), ...(totals.get(applicationId) ?? NONE) };
}
