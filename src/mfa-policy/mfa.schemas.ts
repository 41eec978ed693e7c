import { Type, type Static } from 'typebox';

/** The JSON shapes of the MFA page (reference A.2): one overview answers every MFA admin route. */

const Bool = Type.Boolean();
const Int = Type.Integer();
const IntOrNull = Type.Union([Type.Integer(), Type.Null()]);

export const SubscriptionStateSchema = Type.Union([
  Type.Literal('not_subscribed'),
  Type.Literal('requested'),
  Type.Literal('active'),
  Type.Literal('suspended'),
  Type.Literal('cancelled'),
]);

export const CorporationScopeSchema = Type.Union([Type.Literal('all'), Type.Literal('specific')]);

export const MfaOverviewSchema = Type.Object({
  subscription: Type.Object({
    state: SubscriptionStateSchema,
    planName: Type.Union([Type.String(), Type.Null()]),
    licenceCount: Int,
    startsAt: IntOrNull,
    endsAt: IntOrNull,
    requestedAt: IntOrNull,
    activatedAt: IntOrNull,
    requestedLicences: IntOrNull,
    live: Bool,
  }),
  configuration: Type.Object({
    caseManagers: Bool,
    vendorCaseManagers: Bool,
    corporationScope: CorporationScopeSchema,
    allCorpUsers: Bool,
    allForeignNationals: Bool,
    corporations: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), corpUsers: Bool, foreignNationals: Bool })),
  }),
  counters: Type.Object({ caseManagers: Int, vendorCaseManagers: Int, corpUsers: Int, foreignNationals: Int }),
  usage: Type.Object({ licenceCount: Int, enrolled: Int, unutilised: Int, percent: Int, bypassLogins: Int }),
});
export type MfaOverview = Static<typeof MfaOverviewSchema>;

export const ConfigurationBody = Type.Object(
  {
    caseManagers: Bool,
    vendorCaseManagers: Bool,
    corporationScope: CorporationScopeSchema,
    allCorpUsers: Bool,
    allForeignNationals: Bool,
  },
  { additionalProperties: false },
);
export type ConfigurationInput = Static<typeof ConfigurationBody>;

const CorporationId = Type.String({ minLength: 1, maxLength: 64 });

export const AddCorporationBody = Type.Object(
  { corporationId: CorporationId, corpUsers: Type.Optional(Bool), foreignNationals: Type.Optional(Bool) },
  { additionalProperties: false },
);
export type AddCorporationInput = Static<typeof AddCorporationBody>;

export const CorporationSwitchesBody = Type.Object(
  { corpUsers: Type.Optional(Bool), foreignNationals: Type.Optional(Bool) },
  { additionalProperties: false, minProperties: 1 },
);
export type CorporationSwitchesInput = Static<typeof CorporationSwitchesBody>;

export const CorporationParams = Type.Object({ corporationId: CorporationId }, { additionalProperties: false });

const KindCounts = Type.Object({ caseManagers: Int, vendorCaseManagers: Int, corpUsers: Int, foreignNationals: Int });

/** POST /admin/mfa/preview: one change of the MFA page, exactly as its own route takes it. */
export const MfaChangeBody = Type.Union([
  Type.Object({ change: Type.Literal('configuration'), configuration: ConfigurationBody }, { additionalProperties: false }),
  Type.Object(
    { change: Type.Literal('addCorporation'), corporationId: CorporationId, corpUsers: Type.Optional(Bool), foreignNationals: Type.Optional(Bool) },
    { additionalProperties: false },
  ),
  Type.Object(
    { change: Type.Literal('corporationSwitches'), corporationId: CorporationId, corpUsers: Type.Optional(Bool), foreignNationals: Type.Optional(Bool) },
    { additionalProperties: false },
  ),
  Type.Object({ change: Type.Literal('removeCorporation'), corporationId: CorporationId }, { additionalProperties: false }),
]);
export type MfaChange = Static<typeof MfaChangeBody>;

/** What the change would do, for the confirmation dialog (issue 16.3). */
export const MfaChangePreviewSchema = Type.Object({
  /** Active users the configuration covers before and after. */
  covered: Type.Object({ before: Int, after: Int }),
  /** Users brought under MFA, and taken out of it. */
  added: Type.Object({ total: Int, byKind: KindCounts }),
  removed: Type.Object({ total: Int, byKind: KindCounts }),
  /** Case managers and vendor case managers who would be mailed an invitation to enrol (0 while the subscription is not live). */
  mailed: Int,
  /** Of the users taken out, those enrolled: they keep their authenticators and seats. */
  enrolledRemoved: Int,
  /** The subscription is live now (else nobody is asked for MFA yet). */
  live: Bool,
  /** The superuser making the change would be covered and is not enrolled: asked to enrol next. */
  includesYou: Bool,
});
export type MfaChangePreview = Static<typeof MfaChangePreviewSchema>;
