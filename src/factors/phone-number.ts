import { parsePhoneNumberFromString, validatePhoneNumberLength, type CountryCode, type NumberType } from 'libphonenumber-js/max';
import { AppError } from '../core/errors.js';

/**
 * The phone of an authenticator (reference 1.2: "the phone number and country code of the
 * device"), checked with libphonenumber-js's full metadata and kept in E.164. A refusal says
 * what is wrong, for the field it belongs to: 400 INVALID_PHONE with `field: "phone"` and a
 * `reason` (too_short, too_long, no_country, not_a_number, invalid, not_mobile).
 */

export type PhoneProblem = 'too_short' | 'too_long' | 'no_country' | 'not_a_number' | 'invalid' | 'not_mobile';

/**
 * Numbers that cannot be the phone an app runs on. Mobile numbers, and the plans where a
 * number does not tell (FIXED_LINE_OR_MOBILE in North America, personal numbers, VoIP), pass.
 */
const NOT_A_PHONE: readonly NumberType[] = ['FIXED_LINE', 'TOLL_FREE', 'PREMIUM_RATE', 'SHARED_COST', 'UAN', 'VOICEMAIL', 'PAGER'];

const MESSAGES: Record<PhoneProblem, (country: string | undefined) => string> = {
  too_short: (c) => `That number is too short${c ? ` for ${c}` : ''}: check that no digit is missing.`,
  too_long: (c) => `That number is too long${c ? ` for ${c}` : ''}: check for an extra digit.`,
  no_country: () => 'Choose the country, or enter the number with its country code (+44 ...).',
  not_a_number: () => 'Enter a phone number: digits, with spaces or dashes if you like.',
  invalid: (c) => `That is not a valid phone number${c ? ` in ${c}` : ''}: check the number and the country.`,
  not_mobile: () => 'That is not a mobile number: enter the number of the phone the app is on.',
};

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });

const refuse = (reason: PhoneProblem, country: string | undefined) =>
  new AppError('INVALID_PHONE', MESSAGES[reason](country && (regionNames.of(country) ?? country)), { field: 'phone', reason });

/** The number in E.164, or a 400 that says what is wrong with it. */
export function phoneE164(phone: { number: string; country?: string } | undefined): string | null {
  if (!phone) return null;
  const country = phone.country?.toUpperCase() as CountryCode | undefined;
  const length = validatePhoneNumberLength(phone.number, country);
  if (length === 'TOO_SHORT') throw refuse('too_short', country);
  if (length === 'TOO_LONG') throw refuse('too_long', country);
  if (length === 'INVALID_COUNTRY') throw refuse('no_country', country);
  if (length === 'NOT_A_NUMBER') throw refuse('not_a_number', country);
  let parsed;
  try {
    parsed = parsePhoneNumberFromString(phone.number, country);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !parsed.isValid()) throw refuse('invalid', country);
  const type = parsed.getType();
  if (type !== undefined && NOT_A_PHONE.includes(type)) throw refuse('not_mobile', country);
  return parsed.number;
}
