import type { Selectable } from 'kysely';

export type WebAuthnCredentialPurpose = 'second_factor' | 'passkey';

/** The public half of a security key or passkey; one per `authenticators` row of kind 'webauthn'. */
export interface WebAuthnCredentialTable {
  authenticator_id: string;
  /** base64url of the credential id (at most 1023 bytes); unique across every user of every firm. */
  credential_id: string;
  /** base64url of the COSE public key. */
  public_key: string;
  /** The signature counter last seen; a counter that goes backwards means a cloned key. */
  counter: number;
  /** JSON array of the transports the browser reported (usb, nfc, ble, internal, hybrid...). */
  transports: string;
  aaguid: string;
  backed_up: number;
  /** 1 when the key stored the credential (credProps.rk, as the browser reported it: unsigned, informative only). */
  discoverable: number;
  /**
   * What the registration was for, from the challenge the server issued (never from the client):
   * 'passkey' (registered explicitly as one, with user verification, where the firm allows
   * passkeys) is the only kind that signs in without a password; 'second_factor' never does.
   */
  purpose: WebAuthnCredentialPurpose;
  created_at: number;
}
export type WebAuthnCredentialRow = Selectable<WebAuthnCredentialTable>;

/**
 * 'register' / 'register_passkey': enrollment of a security key / a passkey;
 * 'authenticate': the second factor of a login; 'passkey': a passkey sign-in (no session yet).
 */
export type WebAuthnChallengePurpose = 'register' | 'register_passkey' | 'authenticate' | 'passkey';

/** A challenge handed to the browser: random, single-use, bound to a session, short-lived. */
export interface WebAuthnChallengeTable {
  id: string;
  purpose: WebAuthnChallengePurpose;
  /** The web door's session of the ceremony (a record; the binding is attempt_id). */
  session_id: string | null;
  /** The login attempt the ceremony belongs to; null for a passkey sign-in (no attempt yet). */
  attempt_id: string | null;
  user_id: string | null;
  firm_id: string | null;
  /** base64url of 32 random bytes, as the browser echoes it in clientDataJSON. */
  challenge: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}
export type WebAuthnChallengeRow = Selectable<WebAuthnChallengeTable>;
