/**
 * The factor kinds, declared once, in the order the second-factor screen offers them.
 * Everything else derives from these lists: the factor modules of the registry (registry.ts
 * binds one to each kind, checked by the compiler), the `authenticators.kind` column, the
 * TypeBox unions of the route schemas (factor.schemas.ts) and through them the OpenAPI
 * document and the web app's generated types, the audit log's factors, the OIDC `amr` table.
 * Adding a factor is a folder, its kind here and its module in the registry.
 *
 * A module with no imports, so tables, the audit catalogue and schemas can name the kinds
 * without loading every factor (and without an import circle through the registry).
 */
export const LOGIN_METHODS = ['push', 'totp', 'webauthn', 'backup_code'] as const;
export type LoginMethod = (typeof LOGIN_METHODS)[number];

/** The kinds of an `authenticators` row: an enrolled thing. Backup codes are a list of codes, not one. */
export type AuthenticatorKind = Exclude<LoginMethod, 'backup_code'>;
export const AUTHENTICATOR_KINDS = LOGIN_METHODS.filter((m): m is AuthenticatorKind => m !== 'backup_code');

/** The methods answered with a typed code (POST /mfa/verify); a push and a security key answer in their own ceremony. */
export const CODE_METHODS = ['totp', 'backup_code'] as const satisfies readonly LoginMethod[];
export type CodeMethod = (typeof CODE_METHODS)[number];
