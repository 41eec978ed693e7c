import { Type, type TUnsafe } from 'typebox';
import { AUTHENTICATOR_KINDS, CODE_METHODS, LOGIN_METHODS } from './kinds.js';

/** A string union schema from a list of kinds: the same `anyOf` of `const`s the routes always had, typed as the union. */
const oneOf = <T extends string>(values: readonly T[]): TUnsafe<T> => Type.Unsafe<T>(Type.Union(values.map((v) => Type.Literal(v))));

/** The route schemas' factor kinds, derived from the registry's lists, never written out again. */
export const LoginMethodSchema = oneOf(LOGIN_METHODS);
export const AuthenticatorKindSchema = oneOf(AUTHENTICATOR_KINDS);
export const CodeMethodSchema = oneOf(CODE_METHODS);
