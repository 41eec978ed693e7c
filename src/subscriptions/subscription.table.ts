import type { Insertable, Selectable, Updateable } from 'kysely';

export type SubscriptionState = 'requested' | 'active' | 'suspended' | 'cancelled';

/**
 * A firm's MFA subscription (reference A.1). No row = not subscribed. `seats_used` is kept
 * in step with the `seats` table in the same transaction; it exists so that taking a seat
 * is one conditional UPDATE of this row (`... WHERE seats_used < licence_count`), which
 * the database serialises on the row: the enrolled count can never pass the licence count.
 */
export interface SubscriptionTable {
  firm_id: string;
  state: SubscriptionState;
  plan_name: string | null;
  licence_count: number;
  seats_used: number;
  starts_at: number | null;
  ends_at: number | null;
  requested_at: number;
  activated_at: number | null;
  updated_at: number;
  /** More licences asked for by the firm, waiting for the operator; null when none. */
  requested_licences: number | null;
  licences_requested_at: number | null;
  /** 1 once the 80% / 100% usage mail went out; back to 0 when usage falls below (re-armed). */
  alert_80_sent: number;
  alert_100_sent: number;
  /** Logins of MFA-enabled, unenrolled users let through on the password alone because no seat was free (A.2.7). */
  bypass_logins: number;
}
export type Subscription = Selectable<SubscriptionTable>;
export type NewSubscription = Insertable<SubscriptionTable>;
export type SubscriptionUpdate = Updateable<SubscriptionTable>;

/** One held seat per enrolled user. */
export interface SeatTable {
  user_id: string;
  firm_id: string;
  taken_at: number;
}
export type Seat = Selectable<SeatTable>;
