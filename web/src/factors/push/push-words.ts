import type { SecondFactorMethod } from '../../api';

/** A time of day the user reads on this screen: "14:32" (their own clock and zone). */
export const timeOfDay = (epochMs: number) => new Date(epochMs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

const OTHER_WAYS: Partial<Record<SecondFactorMethod, string>> = {
  totp: 'a passcode',
  webauthn: 'your security key',
  backup_code: 'a backup code',
};

/** The ways besides push this user has ("a passcode or a backup code"), for "Use … instead". */
export function otherWays(methods: readonly SecondFactorMethod[]): string | null {
  const ways = methods.flatMap((m) => (m === 'push' || !OTHER_WAYS[m] ? [] : [OTHER_WAYS[m]]));
  if (ways.length === 0) return null;
  return ways.length === 1 ? ways[0]! : `${ways.slice(0, -1).join(', ')} or ${ways.at(-1)!}`;
}

/** Why push is not offered: paused after a fraud report, until when, and what this user can use meanwhile. */
export function pushPausedText(until: number, methods: readonly SecondFactorMethod[]): string {
  const ways = otherWays(methods);
  return (
    `Push requests to your Tessera Authenticator are paused until ${timeOfDay(until)} because a request was reported as fraudulent.` +
    (ways ? ` Use ${ways} instead.` : ' Ask your firm administrator if you cannot wait.')
  );
}
