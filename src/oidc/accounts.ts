import { amrOf } from '../core/decision.js';
import type { AuditFactor } from '../audit/audit.catalogue.js';
import type { DbOrTx } from '../db/database.js';
import { isActiveUser, type UserKind } from '../directory/user.table.js';

/**
 * Who an ID token or the userinfo endpoint speaks of. The provider asks its AccountSource for an
 * account by its accountId (the `sub`) and the firm of the client asking; the directory
 * implementation below is the real one.
 */
export interface AccountSource {
  /** The account's claims, or undefined when it does not exist in that firm or may not sign in any more. */
  findAccount(accountId: string, firmId: string): Promise<AccountClaims | undefined>;
}

/** Tessera's claims about a firm user (scope `tessera` for the last four). */
export interface AccountClaims {
  /** The user's id: stable for the life of the account, never reused, the same for every client. */
  sub: string;
  email: string;
  name: string;
  /** The firm's short name (slug). */
  firm: string;
  kind: UserKind;
  /** The corporation's name, for corp users and foreign nationals; null for staff. */
  corporation: string | null;
  superuser: boolean;
}

/**
 * Which claims each scope releases (oidc-provider's `claims` option). `auth_time`, `acr` and
 * `amr` describe the login itself: with `openid`, every ID token has them, so an application
 * can check how and when its user signed in without asking for them (they never reach userinfo,
 * which speaks of the account).
 */
export const SCOPE_CLAIMS = {
  openid: ['sub', 'auth_time', 'acr', 'amr'],
  profile: ['name'],
  email: ['email'],
  tessera: ['firm', 'kind', 'corporation', 'superuser'],
  sid: null,
} as const;

/**
 * Authentication context classes (the `acr` claim; `acr_values` in a request): a login with the
 * password alone (MFA does not apply to the user, or no licence was free) or with the password
 * and a second factor. An application that needs MFA asks for `urn:tessera:acr:mfa` and checks
 * the `acr` of the ID token.
 */
export const ACR = { password: 'urn:tessera:acr:password', mfa: 'urn:tessera:acr:mfa' } as const;
export const ACR_VALUES = [ACR.mfa, ACR.password];

/** Whether an authorization request's `acr_values` (space-separated) asks for a second factor. */
export const demandsMfa = (acrValues: unknown): boolean => typeof acrValues === 'string' && acrValues.split(' ').includes(ACR.mfa);

/** The `acr` of a login with these RFC 8176 `amr` values: MFA when a second factor was part of it. */
export const acrOf = (amr: readonly string[]): string => (amr.includes('mfa') ? ACR.mfa : ACR.password);

/** The `amr` of a login that used these factors: the core's RFC 8176 table (`mfa` once two kinds of factor were used). */
export function amrFor(factors: AuditFactor[]): string[] {
  return amrOf([...new Set(factors)]);
}

/** The directory as an AccountSource: the user of that firm, if they may still sign in. */
export function directoryAccounts(db: DbOrTx): AccountSource {
  return {
    async findAccount(accountId, firmId) {
      const row = await db
        .selectFrom('users')
        .innerJoin('firms', 'firms.id', 'users.firm_id')
        .leftJoin('corporations', (join) => join.onRef('corporations.id', '=', 'users.corporation_id').onRef('corporations.firm_id', '=', 'users.firm_id'))
        .select([
          'users.id',
          'users.email',
          'users.name',
          'users.kind',
          'users.is_superuser',
          'users.status',
          'users.portal_access',
          'users.record_state',
          'firms.slug',
          'corporations.name as corporation',
        ])
        .where('users.firm_id', '=', firmId)
        .where('users.id', '=', accountId)
        .executeTakeFirst();
      // A disabled user (or one without portal access) gets no claims: their tokens stop working at userinfo and refresh.
      if (!row || !isActiveUser(row)) return undefined;
      return {
        sub: row.id,
        email: row.email,
        name: row.name,
        firm: row.slug,
        kind: row.kind,
        corporation: row.corporation ?? null,
        superuser: row.is_superuser === 1,
      };
    },
  };
}
