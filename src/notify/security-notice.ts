import { sql } from 'kysely';
import { AUDIT_EVENTS, type AuditEventName } from '../audit/audit.catalogue.js';
import { DAY } from '../clock.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import type { FactorUser } from '../factors/factor.js';
import { PLATFORM_NAME } from '../operators/operator-mail.js';
import { templates, type MailContent } from './templates.js';

/**
 * Who is told about a change to an account's security (issue 12, item 3), in one place.
 *
 * The attack: a superuser points a user's account at their own address, mails themselves a
 * set-password link, sets the password, resets the user's MFA and enrols their own phone. Every
 * notice of that went to the new address, the superuser's, and the user never learnt of it. So:
 *  - every address change is mailed to the old address (announceAddressChange);
 *  - for 7 days after a change, every security notice goes to the previous address too
 *    (mailSecurityNotice): the password set, an MFA reset, a new authenticator, a change in
 *    My security.
 * The old address is told what happened and when, never the new address (not even in part) nor
 * the details the account's own address gets: it may be a mistyped address that a stranger holds.
 */

/** For this long after an address change, security notices go to the previous address too. */
export const PREVIOUS_ADDRESS_NOTICE_MS = 7 * DAY;
const NOTICE_DAYS = PREVIOUS_ADDRESS_NOTICE_MS / DAY;

/** The account a notice concerns: a firm user, or an operator (`firm_id` null), as the factors name them. */
export type NoticeAccount = FactorUser;

interface AddressHistory {
  email: string;
  previous_email: string | null;
  email_changed_at: number | null;
}

interface Holder extends AddressHistory {
  name: string;
  firmName: string;
}

/**
 * The columns of an UPDATE of `users` or `operators` that changes the address, in that one
 * statement. `previous_email` keeps the address the account had before its latest run of
 * changes: a second change within the 7 days keeps the first old address (an insider cannot shake
 * the real owner off by changing the address twice) and the 7 days start again. Computed by the
 * database from the row it updates, so it is right however requests interleave.
 */
export function addressChangeColumns(newEmail: string, now: number) {
  return {
    email: newEmail,
    previous_email: sql<string>`case when email_changed_at > ${now - PREVIOUS_ADDRESS_NOTICE_MS} and previous_email is not null and previous_email <> ${newEmail} then previous_email else email end`,
    email_changed_at: now,
  };
}

/** Where a security notice goes: the account's address, and until 7 days after a change also the one before. */
export function noticeAddresses(a: AddressHistory, now: number): { current: string; previous: string | null } {
  const changedAt = a.email_changed_at === null ? null : Number(a.email_changed_at);
  const recent = changedAt !== null && now - changedAt < PREVIOUS_ADDRESS_NOTICE_MS;
  return { current: a.email, previous: recent && a.previous_email !== null && a.previous_email !== a.email ? a.previous_email : null };
}

/** The account's name, addresses and firm, read in the caller's transaction (so after the change it reports). */
async function holderOf(db: DbOrTx, account: NoticeAccount): Promise<Holder> {
  if (account.firm_id === null) {
    const op = await db.selectFrom('operators').select(['email', 'name', 'previous_email', 'email_changed_at']).where('id', '=', account.id).executeTakeFirstOrThrow();
    return { ...op, firmName: PLATFORM_NAME };
  }
  return db
    .selectFrom('users')
    .innerJoin('firms', 'firms.id', 'users.firm_id')
    .select(['users.email', 'users.name', 'users.previous_email', 'users.email_changed_at', 'firms.name as firmName'])
    .where('users.firm_id', '=', account.firm_id)
    .where('users.id', '=', account.id)
    .executeTakeFirstOrThrow();
}

/** Whom the holder of an old address should turn to: not a reply to the mail, and not necessarily the superuser who made the change. */
const contactOf = (account: NoticeAccount, firmName: string) => (account.firm_id === null ? 'another Tessera operator' : `the administrators of ${firmName}`);

/** Where an account reviews its own authenticators (My security). */
export const mySecurityUrl = (ctx: AppContext, account: NoticeAccount) =>
  new URL(account.firm_id === null ? '/operator/security' : '/me/security', ctx.config.publicUrl).toString();

/** Where an account logs in. */
export const loginUrl = (ctx: AppContext, account: NoticeAccount) => new URL(account.firm_id === null ? '/operator/login' : '/login', ctx.config.publicUrl).toString();

export interface SecurityNotice {
  /** The audit event the notice reports: its label is what the previous address is told. */
  event: AuditEventName;
  /** The full notice to the account's own address. */
  mail: (holder: { name: string; firmName: string }) => MailContent;
}

/**
 * Queues a security notice in the caller's transaction: the full mail to the account's address,
 * and within 7 days of an address change a short one (what and when) to the previous address.
 */
export async function mailSecurityNotice(ctx: AppContext, db: DbOrTx, account: NoticeAccount, notice: SecurityNotice): Promise<void> {
  const holder = await holderOf(db, account);
  const now = ctx.clock.now();
  const to = noticeAddresses(holder, now);
  await ctx.mail.enqueue(db, { firmId: account.firm_id, to: to.current, ...notice.mail(holder) });
  if (to.previous === null) return;
  await ctx.mail.enqueue(db, {
    firmId: account.firm_id,
    to: to.previous,
    ...templates.securityNoticeToPreviousAddress({
      name: holder.name,
      firmName: holder.firmName,
      change: AUDIT_EVENTS[notice.event].label,
      at: now,
      changedAt: Number(holder.email_changed_at),
      noticeDays: NOTICE_DAYS,
      contact: contactOf(account, holder.firmName),
    }),
  });
}

/**
 * Mails the old address that the account's address changed, in the transaction of the change
 * (call it after the UPDATE that used addressChangeColumns). Also the earlier address the 7 days
 * still keep, when this is a second change within them. Never the new address.
 */
export async function announceAddressChange(ctx: AppContext, db: DbOrTx, account: NoticeAccount, oldEmail: string): Promise<void> {
  const holder = await holderOf(db, account);
  const now = ctx.clock.now();
  const { current, previous } = noticeAddresses(holder, now);
  const content = templates.addressChanged({ name: holder.name, firmName: holder.firmName, at: now, noticeDays: NOTICE_DAYS, contact: contactOf(account, holder.firmName) });
  for (const to of new Set([oldEmail, previous])) {
    if (to !== null && to !== current) await ctx.mail.enqueue(db, { firmId: account.firm_id, to, ...content });
  }
}
