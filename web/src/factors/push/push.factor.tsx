import { api } from '../../api';
import { browserCountry } from '../../countries';
import type { ChoiceValues, WebFactor } from '../factor';
import { loadPhone } from '../../phone-loader';
import { PhoneFields, phoneBody } from '../PhoneFields';
import { PushSetup } from './PushSetup';
import { PushStep } from './PushStep';

/** The picker asks for the phone first: the server keeps it with the device (the enrolled users list shows it). */
function PhoneChoice({ values, onChange, errors }: { values: ChoiceValues; onChange(values: ChoiceValues): void; errors: Readonly<Record<string, string>> }) {
  return (
    <PhoneFields
      error={errors.phone}
      number={values.number ?? ''}
      country={values.country ?? ''}
      onNumber={(number) => onChange({ ...values, number })}
      onCountry={(country) => onChange({ ...values, country })}
      hint="The phone the Tessera Authenticator will be on"
      required
    />
  );
}

/** The Tessera Authenticator: push approvals with a number to type, and passcodes offline. */
export const pushFactor: WebFactor = {
  enrollment: {
    kind: 'push',
    label: 'Mobile (Tessera Authenticator)',
    description:
      'Approve each sign-in on your phone with the Tessera Authenticator: it asks you to type the number shown here, then to tap Approve. It also shows passcodes when you are offline. Nothing to install from a store: you open it from the QR code or link of the next step.',
    ChoiceFields: PhoneChoice,
    initialValues: () => ({ number: '', country: browserCountry() }),
    async start(values) {
      if (!values.number?.trim()) return { field: 'phone', message: 'Enter the number of the phone the Tessera Authenticator will be on.' };
      const problem = (await loadPhone()).phoneProblem(values.number, values.country ?? '');
      if (problem) return { field: 'phone', message: problem };
      const phone = phoneBody(values.number, values.country ?? '');
      const enrollment = await api.post('/mfa/enrollment/push', { body: { phone } });
      return { added: 'push', render: (props) => <PushSetup {...props} enrollment={enrollment} phone={phone} /> };
    },
    resume(state) {
      // The phone activated: finish the login (backup codes next), never the picker again.
      if (state.step === 'activated' && state.method === 'push') {
        const enrollment = { authenticatorId: state.authenticatorId, activationUrl: '', qrSvg: '', expiresAt: 0 };
        return { added: 'push', render: (props) => <PushSetup {...props} enrollment={enrollment} phone={{ number: '' }} activated /> };
      }
      // Waiting for the phone: the same QR code (null: no longer showable, the picker makes a new one).
      if (state.step === 'in_progress' && state.method === 'push' && state.push) {
        const enrollment = state.push;
        const phone = { number: state.phone ?? '' };
        return { added: 'push', render: (props) => <PushSetup {...props} enrollment={enrollment} phone={phone} /> };
      }
      return null;
    },
  },
  secondFactor: {
    method: 'push',
    Form: PushStep,
    offer: { label: 'Send me a push', style: 'button' },
  },
};
