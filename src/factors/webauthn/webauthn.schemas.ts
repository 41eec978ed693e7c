import { Type, type Static } from 'typebox';

/**
 * The JSON shapes of a WebAuthn response, as @simplewebauthn/browser (and the L3
 * PublicKeyCredential.toJSON()) sends them. The schema bounds every string by the largest
 * body a ceremony may have (16 KiB), so nothing unbounded reaches a decoder; the tighter,
 * per-field limits and the base64url alphabet are checked by the ceremony (webauthn.ceremony.ts),
 * which answers WEBAUTHN_INVALID / WEBAUTHN_FAILED and audits the refusal.
 */
export const MAX_RESPONSE_CHARS = 16 * 1024;

const Blob = Type.String({ minLength: 1, maxLength: MAX_RESPONSE_CHARS });
const CredentialId = Type.String({ minLength: 1, maxLength: 2048 });
const Transports = Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { maxItems: 10 });
const Attachment = Type.Union([Type.Literal('cross-platform'), Type.Literal('platform')]);
/** Extension outputs are open by the spec (credProps, prf, largeBlob...): any keys, bounded in number. */
const ClientExtensionResults = Type.Object({}, { additionalProperties: true, maxProperties: 16 });

export const RegistrationResponseSchema = Type.Object(
  {
    id: CredentialId,
    rawId: CredentialId,
    type: Type.Literal('public-key'),
    authenticatorAttachment: Type.Optional(Attachment),
    clientExtensionResults: ClientExtensionResults,
    response: Type.Object(
      {
        clientDataJSON: Blob,
        attestationObject: Blob,
        authenticatorData: Type.Optional(Blob),
        transports: Type.Optional(Transports),
        publicKeyAlgorithm: Type.Optional(Type.Integer({ minimum: -65536, maximum: 65536 })),
        publicKey: Type.Optional(Blob),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type RegistrationResponse = Static<typeof RegistrationResponseSchema>;

export const AuthenticationResponseSchema = Type.Object(
  {
    id: CredentialId,
    rawId: CredentialId,
    type: Type.Literal('public-key'),
    authenticatorAttachment: Type.Optional(Attachment),
    clientExtensionResults: ClientExtensionResults,
    response: Type.Object(
      {
        clientDataJSON: Blob,
        authenticatorData: Blob,
        signature: Blob,
        userHandle: Type.Optional(Type.String({ maxLength: 512 })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type AuthenticationResponse = Static<typeof AuthenticationResponseSchema>;

// --- The options handed to the browser -------------------------------------------------
// Made by @simplewebauthn/server and read by @simplewebauthn/browser (WebAuthn L3
// PublicKeyCredential{Creation,Request}OptionsJSON). Described field by field, so the OpenAPI
// document (and the web apps' types generated from it) say what the browser receives; the
// objects stay open (additionalProperties) so that a field a newer library adds still reaches
// the browser rather than being dropped by the serializer.

const Open = { additionalProperties: true } as const;
const UserVerification = Type.Enum(['discouraged', 'preferred', 'required']);
const Hints = Type.Array(Type.Enum(['hybrid', 'security-key', 'client-device']));
const CredentialDescriptor = Type.Object({ id: Type.String(), type: Type.String(), transports: Type.Optional(Type.Array(Type.String())) }, Open);
const ExtensionInputs = Type.Object(
  { appid: Type.Optional(Type.String()), credProps: Type.Optional(Type.Boolean()), hmacCreateSecret: Type.Optional(Type.Boolean()), minPinLength: Type.Optional(Type.Boolean()) },
  Open,
);

export const CreationOptionsSchema = Type.Object(
  {
    rp: Type.Object({ name: Type.String(), id: Type.Optional(Type.String()) }, Open),
    user: Type.Object({ id: Type.String(), name: Type.String(), displayName: Type.String() }, Open),
    challenge: Type.String(),
    pubKeyCredParams: Type.Array(Type.Object({ alg: Type.Integer(), type: Type.Literal('public-key') }, Open)),
    timeout: Type.Optional(Type.Integer()),
    excludeCredentials: Type.Optional(Type.Array(CredentialDescriptor)),
    authenticatorSelection: Type.Optional(
      Type.Object(
        {
          authenticatorAttachment: Type.Optional(Attachment),
          requireResidentKey: Type.Optional(Type.Boolean()),
          residentKey: Type.Optional(Type.Enum(['discouraged', 'preferred', 'required'])),
          userVerification: Type.Optional(UserVerification),
        },
        Open,
      ),
    ),
    hints: Type.Optional(Hints),
    attestation: Type.Optional(Type.Enum(['direct', 'enterprise', 'indirect', 'none'])),
    attestationFormats: Type.Optional(Type.Array(Type.Enum(['fido-u2f', 'packed', 'android-safetynet', 'android-key', 'tpm', 'apple', 'none']))),
    extensions: Type.Optional(ExtensionInputs),
  },
  Open,
);

export const RequestOptionsSchema = Type.Object(
  {
    challenge: Type.String(),
    timeout: Type.Optional(Type.Integer()),
    rpId: Type.Optional(Type.String()),
    allowCredentials: Type.Optional(Type.Array(CredentialDescriptor)),
    userVerification: Type.Optional(UserVerification),
    hints: Type.Optional(Hints),
    extensions: Type.Optional(ExtensionInputs),
  },
  Open,
);
