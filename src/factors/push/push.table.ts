import type { ColumnType, Generated, Selectable } from 'kysely';

/**
 * An activated Tessera Authenticator; one per `authenticators` row of kind 'push'. Its
 * passcode secret is a `totp_authenticators` row of the same authenticator, so offline
 * passcodes go through the one TOTP code path (with its replay rule).
 */
export interface PushDeviceTable {
  authenticator_id: string;
  /** The device's P-256 public key as JWK JSON ({kty: EC, crv: P-256, x, y}). */
  public_key: string;
  platform: string | null;
  /** The browser's PushSubscription JSON, when the app subscribed to Web Push. */
  web_push: string | null;
  created_at: number;
  last_seen_at: number | null;
}
export type PushDevice = Selectable<PushDeviceTable>;

/**
 * A nonce of a signed device request, used up by inserting it: the primary key (device, nonce)
 * refuses the second insert, so a captured request replayed within its timestamp window fails.
 */
export interface DeviceNonceTable {
  device_id: string;
  nonce: string;
  /** The end of the signed timestamp's window; housekeeping deletes the row after that. */
  expires_at: number;
}

/** A single-use activation code (QR code / link) of a pending push authenticator. */
export interface DeviceActivationTable {
  /** sha256 of the code, base64url. */
  id: string;
  firm_id: string;
  user_id: string;
  authenticator_id: string;
  /** The web door's session that showed the QR code (a record; the binding is attempt_id); null for a door with no session (migration 0017). */
  session_id: string | null;
  /** The login attempt that showed the QR code (null only for rows older than migration 0016). */
  attempt_id: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  /** 1 when the activation made the user's first authenticator (backup codes are issued at completion). */
  first_enrollment: number;
  completed_at: number | null;
  /** The code itself, sealed with the master key (bound to the row id), to show the same QR code again after a reload (migration 0018); null for older rows. */
  code_sealed: string | null;
  /** The application of the login that began it (a Duo application's /auth/v2/enroll), the only one whose enroll_status reads it (migration 0025); null for Tessera's own screens. */
  application_id: ColumnType<string | null, string | null | undefined, never>;
}
export type DeviceActivation = Selectable<DeviceActivationTable>;

export type PushStatus = 'pending' | 'approved' | 'denied' | 'fraud' | 'expired';
/**
 * Why a request ended, beside its status (migration 0022): denied for a wrong number or as "a
 * mistake"; expired early because a newer push replaced it or its login ended another way.
 */
export type PushEndReason = 'wrong_number' | 'mistake' | 'superseded' | 'cancelled';

/** One push approval request of one login (reference 1.4.1). */
export interface PushTransactionTable {
  id: string;
  firm_id: string;
  user_id: string;
  /** The web door's session of the login (a record; the binding is attempt_id); null for a door with no session (migration 0017). */
  session_id: string | null;
  /** The login attempt waiting for the answer (null only for rows older than migration 0016). */
  attempt_id: string | null;
  status: PushStatus;
  /** The number shown on the login screen and typed into the app (verified push). */
  number: string;
  created_at: number;
  expires_at: number;
  answered_at: number | null;
  answered_by: string | null;
  completed_at: number | null;
  /** Why it ended, where the status alone does not say (migration 0022); null otherwise. */
  end_reason: Generated<PushEndReason | null>;
  ip: string | null;
  user_agent: string | null;
  /** JSON: PushContext. */
  context: string;
}

/** What push_transactions.context holds: what the phone shows besides the user and the address (the application's lines since issue 15). */
export interface PushContext {
  browser?: string;
  os?: string;
  /** The application's name; "Tessera" for Tessera's own sign-in. */
  app?: string;
  /** Duo's `type`, `display_username` and `pushinfo` pairs, as the application sent them. */
  type?: string;
  displayUsername?: string;
  details?: readonly (readonly [string, string])[];
}
export type PushTransaction = Selectable<PushTransactionTable>;

/** Keys the server makes for itself on first start (VAPID); private values sealed. */
export interface ServerKeyTable {
  name: string;
  value: string;
  created_at: number;
}
