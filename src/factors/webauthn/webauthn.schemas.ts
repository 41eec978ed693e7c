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

/** The options JSON handed to the browser; produced by @simplewebauthn/server, so described loosely. */
export const CreationOptionsSchema = Type.Object({ challenge: Type.String(), rp: Type.Object({ id: Type.Optional(Type.String()), name: Type.String() }) }, { additionalProperties: true });
export const RequestOptionsSchema = Type.Object({ challenge: Type.String(), rpId: Type.Optional(Type.String()) }, { additionalProperties: true });
