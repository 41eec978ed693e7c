import { audit, type Actor, type AuditEntry } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { containsText } from '../db/constraints.js';
import { AppError, notFound } from '../core/errors.js';
import type { PageOf } from '../http/schemas.js';
import { forgetUncoveredEnablementMails, scheduleEnablementMails } from '../mfa-policy/enablement.js';
import { isSubscriptionLive } from '../mfa-policy/mfa-policy.js';
import { templates } from '../notify/templates.js';
import { checkUsageAlerts } from './seat.service.js';
import type { Subscription, SubscriptionState } from './subscription.table.js';
import { mailSuperusers } from '../notify/superusers.js';
import { mailOperators } from '../operators/operator-mail.js';

/** Where the operators answer requests. */
const operatorSubscriptionsUrl = (ctx: AppContext) => new URL('/operator/subscriptions', ctx.config.publicUrl).toString();

async function firmNames(db: DbOrTx, firmId: string) {
  return db.selectFrom('firms').select(['name', 'slug']).where('id', '=', firmId).executeTakeFirstOrThrow();
}

/**
 * The firm's MFA subscription (reference A.1): the firm asks, the operator activates with a
 * plan and a licence count, suspends, cancels or declines; the firm asks for more licences.
 *
 * Every transition is ONE conditional UPDATE (or INSERT / DELETE) whose WHERE clause names
 * the states it may start from. The database serialises writers on the row, so of two
 * concurrent or repeated submissions exactly one matches; the other changes nothing and
 * answers 409. What we read after a statement matched nothing is only used to choose the
 * error, never to decide a write.
 */

/** The states a firm can see; "not_subscribed" is the absence of a row. */
export type FirmSubscriptionState = 'not_subscribed' | SubscriptionState;

/** The subscription part of the MFA page (MfaOverview.subscription). */
export interface SubscriptionView {
  state: FirmSubscriptionState;
  planName: string | null;
  licenceCount: number;
  startsAt: number | null;
  endsAt: number | null;
  requestedAt: number | null;
  activatedAt: number | null;
  requestedLicences: number | null;
  live: boolean;
}

/** One row of the operator console. */
export interface SubscriptionItem {
  firmId: string;
  firmName: string;
  firmSlug: string;
  state: SubscriptionState;
  planName: string | null;
  licenceCount: number;
  seatsUsed: number;
  startsAt: number | null;
  endsAt: number | null;
  requestedAt: number;
  activatedAt: number | null;
  requestedLicences: number | null;
}

export interface ActivationInput {
  planName: string;
  licenceCount: number;
  /** Omitted means no limit: an activation describes the whole plan, dates included. */
  startsAt?: number | null;
  endsAt?: number | null;
}

export const MFA_FEATURE = {
  key: 'mfa',
  name: 'Multi-factor authentication (MFA)',
  description:
    'Ask for a second factor at login (the Tessera Authenticator app, any authenticator app, or a security key) for case managers, vendor case managers, corp users and foreign nationals. One licence per enrolled user.',
} as const;

const SUBSCRIBABLE_FROM: SubscriptionState[] = ['cancelled'];
const ACTIVATABLE_FROM: SubscriptionState[] = ['requested', 'suspended', 'cancelled'];
const CANCELLABLE_FROM: SubscriptionState[] = ['requested', 'active', 'suspended'];

const noSubscription = () => notFound('Subscription');
const invalidState = (state: string, action: string) => new AppError('INVALID_STATE', `A subscription in state "${state}" cannot be ${action}.`);

export async function subscriptionRow(db: DbOrTx, firmId: string): Promise<Subscription | undefined> {
  return db.selectFrom('subscriptions').selectAll().where('firm_id', '=', firmId).executeTakeFirst();
}

/** The firm's subscription state, "not_subscribed" when it has none. */
export async function subscriptionState(db: DbOrTx, firmId: string): Promise<FirmSubscriptionState> {
  const row = await db.selectFrom('subscriptions').select('state').where('firm_id', '=', firmId).executeTakeFirst();
  return row?.state ?? 'not_subscribed';
}

/** MfaOverview.subscription of a row (or of no row). `live`: MFA is on for anyone now. */
export function subscriptionView(row: Subscription | null | undefined, now: number): SubscriptionView {
  return {
    state: row?.state ?? 'not_subscribed',
    planName: row?.plan_name ?? null,
    licenceCount: row?.licence_count ?? 0,
    startsAt: row?.starts_at ?? null,
    endsAt: row?.ends_at ?? null,
    requestedAt: row?.requested_at ?? null,
    activatedAt: row?.activated_at ?? null,
    requestedLicences: row?.requested_licences ?? null,
    live: isSubscriptionLive(row, now),
  };
}

/** GET /admin/subscriptions: the features a firm can subscribe to, by category (A.1). */
export async function listFirmFeatures(db: DbOrTx, firmId: string) {
  const state = await subscriptionState(db, firmId);
  return { categories: [{ name: 'Security and Privacy', features: [{ ...MFA_FEATURE, state }] }] };
}

// ---------------------------------------------------------------- firm side

/**
 * "Subscribe" (A.1): records a request for the operator. From no subscription (INSERT, the
 * primary key refuses a second) or a cancelled one (conditional UPDATE). Anything else,
 * including a double-submit, is 409 ALREADY_SUBSCRIBED.
 */
export async function requestSubscription(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string): Promise<{ state: 'requested' }> {
  const now = ctx.clock.now();
  const inserted = await db
    .insertInto('subscriptions')
    .values({
      firm_id: firmId,
      state: 'requested',
      plan_name: null,
      licence_count: 0,
      seats_used: 0,
      starts_at: null,
      ends_at: null,
      requested_at: now,
      activated_at: null,
      updated_at: now,
      requested_licences: null,
      licences_requested_at: null,
      alert_80_sent: 0,
      alert_100_sent: 0,
      bypass_logins: 0,
    })
    .onConflict((oc) => oc.column('firm_id').doNothing())
    .executeTakeFirst();
  let from: FirmSubscriptionState = 'not_subscribed';
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
    // A cancelled subscription keeps its plan, licences and seats (enrolled users stay
    // enrolled); the operator sets them again on activation.
    const reopened = await db
      .updateTable('subscriptions')
      .set({ state: 'requested', requested_at: now, updated_at: now })
      .where('firm_id', '=', firmId)
      .where('state', 'in', SUBSCRIBABLE_FROM)
      .executeTakeFirst();
    if (Number(reopened.numUpdatedRows) === 0) {
      throw new AppError('ALREADY_SUBSCRIBED');
    }
    from = 'cancelled';
  }
  await audit(db, now, actor, { event: 'subscription.requested', firmId, subjectType: 'subscription', subjectId: firmId, details: { from } });
  // The accounts team hears of it (issue 16.5): a request nobody sees waits for ever.
  const firm = await firmNames(db, firmId);
  await mailOperators(ctx, db, templates.subscriptionRequested({ firmName: firm.name, firmSlug: firm.slug, again: from === 'cancelled', url: operatorSubscriptionsUrl(ctx) }));
  return { state: 'requested' };
}

/**
 * "More licences" from the MFA page: `licences` is the new total wanted. One pending request
 * at a time; the operator approves it by activating with a new count, or declines it.
 */
export async function requestLicences(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, licences: number): Promise<void> {
  const now = ctx.clock.now();
  const updated = await db
    .updateTable('subscriptions')
    .set({ requested_licences: licences, licences_requested_at: now, updated_at: now })
    .where('firm_id', '=', firmId)
    .where('state', '=', 'active')
    .where('requested_licences', 'is', null)
    .where('licence_count', '<', licences)
    .returning(['licence_count'])
    .executeTakeFirst();
  if (!updated) {
    const row = await subscriptionRow(db, firmId);
    if (!row || row.state !== 'active') throw new AppError('SUBSCRIPTION_NOT_ACTIVE', 'Licences can only be requested for an active MFA subscription.');
    if (row.licence_count >= licences) {
      throw new AppError('LICENCES_NOT_MORE', `Ask for more than the ${row.licence_count} licences the firm already has.`);
    }
    throw new AppError('LICENCE_REQUEST_PENDING', `A request for ${row.requested_licences} licences is already waiting for the operator.`);
  }
  await audit(db, now, actor, {
    event: 'subscription.licences_requested',
    firmId,
    subjectType: 'subscription',
    subjectId: firmId,
    details: { licences, licenceCount: updated.licence_count },
  });
  const firm = await firmNames(db, firmId);
  await mailOperators(
    ctx,
    db,
    templates.licencesRequested({ firmName: firm.name, firmSlug: firm.slug, licences, licenceCount: updated.licence_count, url: operatorSubscriptionsUrl(ctx) }),
  );
}

/** The operator console's count of what waits for an answer: requests to subscribe, and requests for more licences. */
export async function pendingRequests(db: DbOrTx): Promise<{ subscriptions: number; licences: number }> {
  const row = await db
    .selectFrom('subscriptions')
    .select((eb) => [
      eb.fn.sum<number>(eb.case().when('state', '=', 'requested').then(1).else(0).end()).as('subscriptions'),
      eb.fn.sum<number>(eb.case().when('requested_licences', 'is not', null).then(1).else(0).end()).as('licences'),
    ])
    .executeTakeFirstOrThrow();
  return { subscriptions: Number(row.subscriptions ?? 0), licences: Number(row.licences ?? 0) };
}

// ---------------------------------------------------------------- operator side

function firmSubscriptions(db: DbOrTx) {
  return db
    .selectFrom('subscriptions')
    .innerJoin('firms', 'firms.id', 'subscriptions.firm_id')
    .selectAll('subscriptions')
    .select(['firms.name as firm_name', 'firms.slug as firm_slug']);
}

type ItemRow = Subscription & { firm_name: string; firm_slug: string };

const item = (r: ItemRow): SubscriptionItem => ({
  firmId: r.firm_id,
  firmName: r.firm_name,
  firmSlug: r.firm_slug,
  state: r.state,
  planName: r.plan_name,
  licenceCount: r.licence_count,
  seatsUsed: r.seats_used,
  startsAt: r.starts_at,
  endsAt: r.ends_at,
  requestedAt: r.requested_at,
  activatedAt: r.activated_at,
  requestedLicences: r.requested_licences,
});

export async function getSubscriptionItem(db: DbOrTx, firmId: string): Promise<SubscriptionItem> {
  const row = await firmSubscriptions(db).where('subscriptions.firm_id', '=', firmId).executeTakeFirst();
  if (!row) throw noSubscription();
  return item(row);
}

/** The operator console: pending requests (to subscribe, or for licences) first, then by firm name. */
export async function listSubscriptions(
  db: DbOrTx,
  query: { state?: SubscriptionState; q?: string; page?: number; pageSize?: number },
): Promise<PageOf<SubscriptionItem>> {
  const page = query.page ?? 1;
  const pageSize = query.pageSize ?? 20;
  const q = query.q?.trim();
  let base = firmSubscriptions(db);
  if (query.state) base = base.where('subscriptions.state', '=', query.state);
  if (q) base = base.where((eb) => eb.or([containsText('firms.name', q), containsText('firms.slug', q)]));
  const { total } = await base
    .clearSelect()
    .select((eb) => eb.fn.countAll<number>().as('total'))
    .executeTakeFirstOrThrow();
  const rows = await base
    .orderBy((eb) =>
      eb
        .case()
        .when(eb.or([eb('subscriptions.state', '=', 'requested'), eb('subscriptions.requested_licences', 'is not', null)]))
        .then(0)
        .else(1)
        .end(),
    )
    .orderBy('firms.name')
    .orderBy('firms.id')
    .limit(pageSize)
    .offset((page - 1) * pageSize)
    .execute();
  return { items: rows.map(item), total: Number(total), page, pageSize };
}

/** After a statement matched nothing: the row is gone (404) or in another state (409). */
async function refuseTransition(db: DbOrTx, firmId: string, action: string): Promise<never> {
  const row = await subscriptionRow(db, firmId);
  if (!row) throw noSubscription();
  throw invalidState(row.state, action);
}

/**
 * Activates (from requested, suspended, cancelled) or changes (when active) the plan, the
 * licence count and the dates; clears a pending licence request. Refused with
 * LICENCES_BELOW_ENROLLED when fewer licences than enrolled users: the users must be reset
 * first (A.2.6). That check is in the WHERE clause of the UPDATE, so a seat taken meanwhile
 * cannot slip under it (and the CHECK seats_used <= licence_count backs it up).
 *
 * The superusers are mailed, and the enablement mails scheduled, only by the statement that
 * moved the row into "active": a repeated activation is a change, and an identical one
 * changes nothing at all.
 */
export async function activateSubscription(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, input: ActivationInput): Promise<SubscriptionItem> {
  const startsAt = input.startsAt ?? null;
  const endsAt = input.endsAt ?? null;
  if (startsAt !== null && endsAt !== null && endsAt <= startsAt) throw new AppError('INVALID_DATES');
  const planName = input.planName.trim();
  const licenceCount = input.licenceCount;
  const now = ctx.clock.now();
  const plan = { plan_name: planName, licence_count: licenceCount, starts_at: startsAt, ends_at: endsAt };
  const details = { planName, licenceCount, startsAt, endsAt };

  const activated = await db
    .updateTable('subscriptions')
    .set({ ...plan, state: 'active', activated_at: now, updated_at: now, requested_licences: null, licences_requested_at: null })
    .where('firm_id', '=', firmId)
    .where('state', 'in', ACTIVATABLE_FROM)
    .where('seats_used', '<=', licenceCount)
    .returning(['firm_id'])
    .executeTakeFirst();
  if (activated) {
    await audit(db, now, actor, { event: 'subscription.activated', firmId, subjectType: 'subscription', subjectId: firmId, details });
    await mailActivation(ctx, db, firmId, planName, licenceCount);
    // A future start defers the "MFA is now on" mails to the day it is.
    await scheduleEnablementMails(ctx, db, firmId, startsAt ?? undefined);
    await checkUsageAlerts(ctx, db, firmId);
    return getSubscriptionItem(db, firmId);
  }

  const current = await subscriptionRow(db, firmId);
  if (!current) throw noSubscription();
  if (
    current.state === 'active' &&
    current.plan_name === planName &&
    current.licence_count === licenceCount &&
    current.starts_at === startsAt &&
    current.ends_at === endsAt &&
    current.requested_licences === null
  ) {
    return getSubscriptionItem(db, firmId); // the same activation again: nothing to do
  }

  const changed = await db
    .updateTable('subscriptions')
    .set({ ...plan, updated_at: now, requested_licences: null, licences_requested_at: null })
    .where('firm_id', '=', firmId)
    .where('state', '=', 'active')
    .where('seats_used', '<=', licenceCount)
    .returning(['firm_id'])
    .executeTakeFirst();
  if (!changed) {
    const row = await subscriptionRow(db, firmId);
    if (!row) throw noSubscription();
    if (row.seats_used > licenceCount) {
      throw new AppError(
        'LICENCES_BELOW_ENROLLED',
        `${row.seats_used} users are enrolled; reset enrollments until no more than ${licenceCount} are, or keep at least ${row.seats_used} licences.`,
      );
    }
    throw invalidState(row.state, 'activated');
  }
  await audit(db, now, actor, {
    event: 'subscription.changed',
    firmId,
    subjectType: 'subscription',
    subjectId: firmId,
    details: {
      ...details,
      previous: { planName: current.plan_name, licenceCount: current.licence_count, startsAt: current.starts_at, endsAt: current.ends_at },
      ...(current.requested_licences !== null ? { licenceRequestCleared: current.requested_licences } : {}),
    },
  });
  // New dates can make MFA start (or start again) at another moment: the job is idempotent.
  if (current.starts_at !== startsAt || current.ends_at !== endsAt) await scheduleEnablementMails(ctx, db, firmId, startsAt ?? undefined);
  await checkUsageAlerts(ctx, db, firmId);
  return getSubscriptionItem(db, firmId);
}

/** Every active superuser of the firm learns that MFA is now available to configure (A.1). */
async function mailActivation(ctx: AppContext, db: DbOrTx, firmId: string, planName: string, licenceCount: number): Promise<void> {
  const firm = await db.selectFrom('firms').select('name').where('id', '=', firmId).executeTakeFirstOrThrow();
  const content = templates.subscriptionActivated({
    firmName: firm.name,
    planName,
    licenceCount,
    url: new URL('/admin/mfa', ctx.config.publicUrl).toString(),
  });
  await mailSuperusers(ctx, db, firmId, content);
}

/**
 * Declines a request to subscribe. A first request leaves no trace (the row goes: the firm
 * is "not subscribed" again). A request to come back after a cancellation returns to
 * "cancelled" instead: that row still accounts for the seats its enrolled users hold.
 */
export async function declineSubscription(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string): Promise<void> {
  const now = ctx.clock.now();
  const deleted = await db
    .deleteFrom('subscriptions')
    .where('firm_id', '=', firmId)
    .where('state', '=', 'requested')
    .where('activated_at', 'is', null)
    .where('seats_used', '=', 0)
    .executeTakeFirst();
  let to: FirmSubscriptionState = 'not_subscribed';
  if (Number(deleted.numDeletedRows) === 0) {
    const reverted = await db
      .updateTable('subscriptions')
      .set({ state: 'cancelled', updated_at: now })
      .where('firm_id', '=', firmId)
      .where('state', '=', 'requested')
      .executeTakeFirst();
    if (Number(reverted.numUpdatedRows) === 0) await refuseTransition(db, firmId, 'declined');
    to = 'cancelled';
  }
  await audit(db, now, actor, { event: 'subscription.declined', firmId, subjectType: 'subscription', subjectId: firmId, details: { to } });
}

/** Declines the firm's pending request for more licences; the count stays as it is. */
export async function declineLicenceRequest(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string): Promise<SubscriptionItem> {
  const now = ctx.clock.now();
  const row = await subscriptionRow(db, firmId);
  if (!row) throw noSubscription();
  const noRequest = () => new AppError('NO_LICENCE_REQUEST');
  if (row.requested_licences === null) throw noRequest();
  // Conditional on the very request read above: one of two concurrent declines matches.
  const cleared = await db
    .updateTable('subscriptions')
    .set({ requested_licences: null, licences_requested_at: null, updated_at: now })
    .where('firm_id', '=', firmId)
    .where('requested_licences', '=', row.requested_licences)
    .executeTakeFirst();
  if (Number(cleared.numUpdatedRows) === 0) throw noRequest();
  await audit(db, now, actor, {
    event: 'subscription.licence_request_declined',
    firmId,
    subjectType: 'subscription',
    subjectId: firmId,
    details: { requestedLicences: row.requested_licences, licenceCount: row.licence_count },
  });
  return getSubscriptionItem(db, firmId);
}

/** Active -> suspended: MFA stops applying (isSubscriptionLive), enrollments and seats are kept. */
export async function suspendSubscription(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string): Promise<SubscriptionItem> {
  return move(ctx, db, actor, firmId, { to: 'suspended', from: ['active'], action: 'suspended', event: 'subscription.suspended', clearRequest: false });
}

/** Requested, active or suspended -> cancelled. Enrollments and seats are kept for a return; a pending licence request is dropped. */
export async function cancelSubscription(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string): Promise<SubscriptionItem> {
  return move(ctx, db, actor, firmId, { to: 'cancelled', from: CANCELLABLE_FROM, action: 'cancelled', event: 'subscription.cancelled', clearRequest: true });
}

async function move(
  ctx: AppContext,
  db: DbOrTx,
  actor: Actor,
  firmId: string,
  t: { to: SubscriptionState; from: SubscriptionState[]; action: string; event: AuditEntry['event']; clearRequest: boolean },
): Promise<SubscriptionItem> {
  const now = ctx.clock.now();
  const moved = await db
    .updateTable('subscriptions')
    .set({ state: t.to, updated_at: now, ...(t.clearRequest ? { requested_licences: null, licences_requested_at: null } : {}) })
    .where('firm_id', '=', firmId)
    .where('state', 'in', t.from)
    .executeTakeFirst();
  if (Number(moved.numUpdatedRows) === 0) await refuseTransition(db, firmId, t.action);
  await audit(db, now, actor, { event: t.event, firmId, subjectType: 'subscription', subjectId: firmId });
  // MFA stops for everyone: a reactivation mails the not-yet-enrolled again (A.2.5).
  await forgetUncoveredEnablementMails(ctx, db, firmId);
  return getSubscriptionItem(db, firmId);
}
