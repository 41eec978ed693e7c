import { CodeForm, type CodeWords } from '../CodeForm';
import type { StepFormProps, WebFactor } from '../factor';

const BACKUP_CODE: CodeWords = {
  method: 'backup_code',
  name: 'Backup code',
  intro: 'Type one of the backup codes you saved when you set up MFA. Each code works once.',
  // As typed: the server normalises case, dashes and look-alike characters.
  normalise: (typed) => typed.trim(),
  input: { autoComplete: 'off', autoCapitalize: 'none', spellCheck: false, maxLength: 40 },
};

function BackupCodeForm(props: StepFormProps) {
  return <CodeForm {...props} words={BACKUP_CODE} />;
}

/**
 * Backup codes: ten single-use codes shown once after the first enrollment (BackupCodes, also
 * under My security), typed at login when the phone or key is not at hand. Nothing to enrol.
 */
export const backupCodesFactor: WebFactor = {
  secondFactor: {
    method: 'backup_code',
    Form: BackupCodeForm,
    offer: { label: 'Use a backup code instead', style: 'link' },
  },
};
