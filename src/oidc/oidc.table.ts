import type { Selectable } from 'kysely';

/** One record oidc-provider persisted through the adapter (src/oidc/adapter.ts), of any model. */
export interface OidcPayloadTable {
  model: string;
  id: string;
  /** JSON text of the payload. */
  payload: string;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  /** Epoch ms; null = no lifetime. */
  expires_at: number | null;
  /** Epoch ms of the one use of a single-use artefact. */
  consumed_at: number | null;
}
export type OidcPayload = Selectable<OidcPayloadTable>;

export const SIGNING_ALGS = ['ES256', 'RS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

/** A key that signs ID tokens (src/oidc/keys.ts). */
export interface OidcSigningKeyTable {
  kid: string;
  alg: SigningAlg;
  /** Sealed private JWK (SecretBox, bound to the kid). */
  private_jwk: string;
  /** Public JWK, JSON text. */
  public_jwk: string;
  created_at: number;
  /** Signs from then on (a rotated-in key is published a while before it signs). */
  active_from: number;
  state: 'current' | 'retired';
  retired_at: number | null;
  /** Published in the JWKS until then (retired keys). */
  publish_until: number | null;
}
export type OidcSigningKey = Selectable<OidcSigningKeyTable>;
