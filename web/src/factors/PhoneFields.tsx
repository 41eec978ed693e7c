import { countries } from '../countries';
import { SelectField, TextField } from '../components/Field';

function countryOptions() {
  return [{ value: '', label: 'Choose a country' }, ...countries().map((c) => ({ value: c.code, label: `${c.name} (${c.code})` }))];
}

/** The phone number asked at enrollment (the server checks it with its country and keeps it in E.164). */
export function PhoneFields({
  number,
  country,
  onNumber,
  onCountry,
  hint,
  required,
}: {
  number: string;
  country: string;
  onNumber(value: string): void;
  onCountry(value: string): void;
  hint: string;
  required?: boolean;
}) {
  return (
    <div className="form-row">
      <TextField label="Phone number" type="tel" value={number} onChange={onNumber} autoComplete="tel" hint={hint} required={required} />
      <SelectField label="Country" value={country} options={countryOptions()} onChange={onCountry} />
    </div>
  );
}

/** The phone as the enrollment routes take it: the country only when one is chosen. */
export function phoneBody(number: string, country: string): { number: string; country?: string } {
  return { number: number.trim(), ...(country ? { country } : {}) };
}
