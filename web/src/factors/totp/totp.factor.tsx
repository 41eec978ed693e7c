import { api } from '../../api';
import { CodeForm, type CodeWords } from '../CodeForm';
import type { StepFormProps, WebFactor } from '../factor';
import { TotpSetup } from './TotpSetup';

const PASSCODE: CodeWords = {
  method: 'totp',
  name: 'Passcode',
  intro: 'Open your authenticator app and type the 6-digit code it shows for this account.',
  // Passcodes are often typed as "123 456".
  normalise: (typed) => typed.replace(/\s+/g, ''),
  input: { inputMode: 'numeric', autoComplete: 'one-time-code', spellCheck: false, maxLength: 12 },
};

function PasscodeForm(props: StepFormProps) {
  return <CodeForm {...props} words={PASSCODE} />;
}

/** An authenticator app (TOTP): any app that shows 6-digit passcodes, the Tessera Authenticator included. */
export const totpFactor: WebFactor = {
  enrollment: {
    kind: 'totp',
    label: 'Authenticator app',
    description:
      'A 6-digit code from an app on your phone: Tessera Authenticator, Google Authenticator, Microsoft Authenticator, Duo Mobile, 1Password and others.',
    async start() {
      const enrollment = await api.post('/mfa/enrollment/totp', { body: {} });
      return { added: 'totp', render: (props) => <TotpSetup {...props} enrollment={enrollment} /> };
    },
    resume(state) {
      if (state.step !== 'in_progress' || state.method !== 'totp') return null;
      const enrollment = state.totp;
      return { added: 'totp', render: (props) => <TotpSetup {...props} enrollment={enrollment} /> };
    },
  },
  secondFactor: {
    method: 'totp',
    Form: PasscodeForm,
    offer: { label: 'Use a passcode from your app instead', style: 'link' },
  },
};
