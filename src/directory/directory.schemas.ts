import { Type } from 'typebox';
import { Email, Name, literals } from '../http/schemas.js';
import { USER_KINDS } from './user.table.js';

export const UserKind = literals(USER_KINDS);

const Id = Type.String({ minLength: 1, maxLength: 64 });

export const UserViewSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.String(),
  kind: UserKind,
  isSuperuser: Type.Boolean(),
  corporation: Type.Union([Type.Object({ id: Type.String(), name: Type.String() }), Type.Null()]),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Null()]),
  portalAccess: Type.Union([Type.Literal('enabled'), Type.Literal('disabled'), Type.Null()]),
  recordState: Type.Union([Type.Literal('active'), Type.Literal('inactive'), Type.Null()]),
  active: Type.Boolean(),
  hasPassword: Type.Boolean(),
  usernameAlias: Type.Union([Type.String(), Type.Null()], { description: 'Duo username alias' }),
  createdAt: Type.Integer(),
  mfa: Type.Object({
    enrolled: Type.Boolean({ description: 'Holds a seat (has an active authenticator)' }),
    lockedUntil: Type.Union([Type.Integer(), Type.Null()], { description: 'Second factor locked until (epoch ms); null when not locked' }),
    failedAttempts: Type.Integer({ description: 'Consecutive failed second-factor attempts' }),
  }),
});

export const NewUserBody = Type.Object(
  {
    name: Name,
    email: Email,
    kind: UserKind,
    isSuperuser: Type.Optional(Type.Boolean()),
    corporationId: Type.Optional(Id),
  },
  { additionalProperties: false },
);

export const UserPatchBody = Type.Object(
  {
    name: Type.Optional(Name),
    email: Type.Optional(Email),
    isSuperuser: Type.Optional(Type.Boolean()),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')])),
    portalAccess: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])),
    recordState: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('inactive')])),
    corporationId: Type.Optional(Id),
    usernameAlias: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\s@]+$' }), Type.Null()], {
        description: 'The username a Duo-integrated application knows this user by, besides the address (no spaces, no @); null removes it',
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const CorporationViewSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  createdAt: Type.Integer(),
  userCount: Type.Integer(),
});

export const CorporationBody = Type.Object({ name: Name }, { additionalProperties: false });
