import type { EnrollmentSetup, WebFactor } from '../factor';
import { KeySetup } from './KeySetup';
import { KeyStep } from './KeyStep';

/** A key's setup screen, straight away: the key's name comes first, the server is asked when the key is ready. */
export function keySetup(passkey: boolean): EnrollmentSetup {
  return { added: passkey ? 'passkey' : 'webauthn', render: (props) => <KeySetup {...props} passkey={passkey} /> };
}

/** Security keys (FIDO2 / WebAuthn, U2F too), and passkeys: keys that also sign in without the password. */
export const webauthnFactor: WebFactor = {
  enrollment: {
    kind: 'webauthn',
    label: 'Security key',
    description:
      'A USB security key, such as a YubiKey or a Feitian key, instead of a phone: insert it and tap it when it blinks. Some keys ask more than once.',
    start: async () => keySetup(false),
    // A key's ceremony lives in the browser: after a reload, the key step again (not the picker).
    resume: (state) => (state.step === 'in_progress' && state.method === 'webauthn' ? keySetup(false) : null),
  },
  secondFactor: {
    method: 'webauthn',
    Form: KeyStep,
    offer: { label: 'Use security key', style: 'button' },
  },
};
