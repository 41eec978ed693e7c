/**
 * Lifetimes of what the OpenID Provider issues (seconds, as oidc-provider counts). Short where
 * a stolen copy would be used at once (codes, access and ID tokens); the long-lived parts end
 * with what a Tessera session allows (TESSERA_SESSION_ABSOLUTE_HOURS), see provider.ts.
 */
export const AUTHORIZATION_CODE_TTL = 60;
/** Access tokens (opaque, for the userinfo endpoint) and ID tokens. */
export const ACCESS_TOKEN_TTL = 15 * 60;
export const ID_TOKEN_TTL = 15 * 60;
/** The login interaction (password and second factor): the same 10 minutes as a pending login. */
export const INTERACTION_TTL = 10 * 60;

/** The longest any token signed with a signing key stays valid: a retired key is published that long after it last signed. */
export const LONGEST_SIGNED_TOKEN_MS = Math.max(ACCESS_TOKEN_TTL, ID_TOKEN_TTL) * 1000;
