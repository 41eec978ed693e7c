import { CheckboxField } from '../components/Field';
import { plural } from '../words';

/** The remember-this-browser choice, shared by every method (absent when the firm allows none). */
export function RememberField({ days, checked, onChange }: { days: number; checked: boolean; onChange(checked: boolean): void }) {
  if (days <= 0) return null;
  return (
    <CheckboxField
      label={`Remember this browser for ${plural(days, 'day')}`}
      checked={checked}
      onChange={onChange}
      hint="Only on a computer that is yours alone. You will not be asked for a code here during that time."
    />
  );
}
