import { useId, useState } from 'react';
import { countries } from '../countries';
import { SelectField } from '../components/Field';
import { usePhone } from '../phone-loader';

function countryOptions(callingCode: (country: string) => string) {
  return [
    { value: '', label: 'Choose a country' },
    ...countries().map((c) => {
      const code = callingCode(c.code);
      return { value: c.code, label: code ? `${c.name} ${code}` : c.name };
    }),
  ];
}

/**
 * The phone asked at enrollment (reference 1.2, issue 16.6): the country first, with its
 * dialling code, and the number with an example of that country. What is wrong with the number
 * shows at the field once the user leaves it (or when the server refused it: `error`), in words
 * that say what: too short, too long, not a mobile number, not valid for the country. The server
 * checks it again with its country and keeps it in E.164.
 */
export function PhoneFields({
  number,
  country,
  onNumber,
  onCountry,
  hint,
  required,
  error,
}: {
  number: string;
  country: string;
  onNumber(value: string): void;
  onCountry(value: string): void;
  hint: string;
  required?: boolean;
  /** The server's refusal of this number (the caller clears it when the number or country changes). */
  error?: string | null;
}) {
  const id = useId();
  const [left, setLeft] = useState(false);
  const phone = usePhone();
  const problem = error || (left && phone ? phone.phoneProblem(number, country) : null);
  const example = phone?.examplePhone(country) ?? null;
  const code = phone?.callingCode(country) ?? '';

  return (
    <div className="form-row">
      <SelectField label="Country" value={country} options={countryOptions(phone ? phone.callingCode : () => '')} onChange={onCountry} />
      <div className="field">
        <label htmlFor={id}>Phone number</label>
        <div className="input-with-prefix">
          {code ? (
            <span className="input-prefix" aria-hidden="true">
              {code}
            </span>
          ) : null}
          <input
            id={id}
            type="tel"
            value={number}
            autoComplete="tel-national"
            placeholder={example?.national}
            aria-invalid={problem ? true : undefined}
            aria-describedby={`${id}-hint${problem ? ` ${id}-error` : ''}`}
            required={required}
            onChange={(event) => onNumber(event.target.value)}
            onBlur={() => setLeft(true)}
          />
        </div>
        {problem ? (
          <p id={`${id}-error`} className="field-error">
            {problem}
          </p>
        ) : null}
        <p id={`${id}-hint`} className="field-hint">
          {hint}
          {example ? `. For example ${example.national} (${example.international}).` : '.'}
        </p>
      </div>
    </div>
  );
}

/** The phone as the enrollment routes take it: the country only when one is chosen. */
export function phoneBody(number: string, country: string): { number: string; country?: string } {
  return { number: number.trim(), ...(country ? { country } : {}) };
}
