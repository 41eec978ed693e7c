import { randomBytes, randomInt } from 'node:crypto';

/**
 * The identifiers and secrets an application is given. All from the operating system's CSPRNG;
 * characters are drawn with randomInt, which has no modulo bias.
 */

const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomString(alphabet: string, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}

/** An OIDC client_id: public, but unguessable (124 bits) so that nobody can probe for a firm's applications. */
export const newClientId = () => randomString(LOWER_ALNUM, 24);

/**
 * An OIDC client secret: 48 random bytes as 64 base64url characters (384 bits). 64 bytes long,
 * because client_secret_jwt with HS512 needs a key at least as long as its hash (RFC 7518
 * §3.2), which oidc-provider checks.
 */
export const newClientSecret = () => randomBytes(48).toString('base64url');

/** A Duo integration key: 20 characters, "DI" and 18 upper-case letters or digits, as Duo issues them (Duo's clients check only the length). */
export const newIntegrationKey = () => `DI${randomString(UPPER_ALNUM, 18)}`;

/** A Duo secret key: 40 letters and digits (238 bits), as Duo issues them; the HMAC key of Duo's request signatures and of the Web SDK's HS512 JWTs. */
export const newSecretKey = () => randomString(ALNUM, 40);
