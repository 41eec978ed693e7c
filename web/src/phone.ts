// Phone numbers as people read and type them (reference 1.2, issue 16.6): the dialling code of
// each country, an example number for the chosen one, what is wrong with a number typed, and
// E.164 numbers shown in international format. The same library and rules as the server
// (src/factors/phone-number.ts), which has the last word. The browser carries the small
// metadata: it tells a number's length and validity per country, not whether it is a mobile
// number; the server's full metadata answers that (INVALID_PHONE, reason not_mobile), and the
// screens show its answer at the same field.
import {
  getCountryCallingCode,
  getExampleNumber,
  isSupportedCountry,
  parsePhoneNumberFromString,
  validatePhoneNumberLength,
  type CountryCode,
} from 'libphonenumber-js';
import examples from 'libphonenumber-js/examples.mobile.json';

const supported = (country: string): country is CountryCode => country !== '' && isSupportedCountry(country as CountryCode);

/** "+91" for India; '' for a territory without its own dialling code. */
export function callingCode(country: string): string {
  return supported(country) ? `+${getCountryCallingCode(country)}` : '';
}

/** A mobile number of that country as written there ("081234 56789" in India) and from abroad ("+91 81234 56789"). */
export function examplePhone(country: string): { national: string; international: string } | null {
  if (!supported(country)) return null;
  const example = getExampleNumber(country, examples);
  return example ? { national: example.formatNational(), international: example.formatInternational() } : null;
}

/** "+44 7911 123456": an E.164 number in international format (as stored if it cannot be read). */
export function formatPhone(e164: string): string {
  return parsePhoneNumberFromString(e164)?.formatInternational() ?? e164;
}

/** What is wrong with a number for a country, in the server's words; null when nothing is (that the browser can tell). */
export function phoneProblem(number: string, country: string): string | null {
  if (number.trim() === '') return null;
  const c = supported(country) ? country : undefined;
  const name = c ? countryName(c) : undefined;
  const length = validatePhoneNumberLength(number, c);
  if (length === 'TOO_SHORT') return `That number is too short${name ? ` for ${name}` : ''}: check that no digit is missing.`;
  if (length === 'TOO_LONG') return `That number is too long${name ? ` for ${name}` : ''}: check for an extra digit.`;
  if (length === 'INVALID_COUNTRY') return 'Choose the country, or enter the number with its country code (+44 ...).';
  if (length === 'NOT_A_NUMBER') return 'Enter a phone number: digits, with spaces or dashes if you like.';
  const parsed = parsePhoneNumberFromString(number, c);
  if (!parsed?.isValid()) return `That is not a valid phone number${name ? ` in ${name}` : ''}: check the number and the country.`;
  return null;
}

function countryName(code: string): string {
  try {
    return new Intl.DisplayNames(undefined, { type: 'region' }).of(code) ?? code;
  } catch {
    return code;
  }
}
