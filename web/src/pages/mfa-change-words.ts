// The MFA change dialog's sentences (issue 16 item 3), apart from the dialog so they are
// tested alone (test/mfa-change-words.test.ts). The preview's shape is the server's
// (MfaChangePreview in api.ts), written here structurally so this file imports no API client.

import { plural } from '../plural.js';

interface KindCounts {
  caseManagers: number;
  vendorCaseManagers: number;
  corpUsers: number;
  foreignNationals: number;
}

/** What the server previews of a change: MfaChangePreview. */
export interface ChangePreview {
  added: { total: number; byKind: KindCounts };
  removed: { total: number; byKind: KindCounts };
  enrolledRemoved: number;
  mailed: number;
  live: boolean;
  includesYou: boolean;
}

const KIND_WORDS: [keyof KindCounts, string, string][] = [
  ['caseManagers', 'case manager', 'case managers'],
  ['vendorCaseManagers', 'vendor case manager', 'vendor case managers'],
  ['corpUsers', 'corp user', 'corp users'],
  ['foreignNationals', 'foreign national', 'foreign nationals'],
];

/** "3 case managers and 1 corp user". */
function byKind(counts: KindCounts): string {
  const parts = KIND_WORDS.filter(([key]) => counts[key] > 0).map(([key, one, many]) => plural(counts[key], one, many));
  return parts.length <= 1 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/**
 * Who is mailed an invitation to enrol: the staff (case managers, vendor case managers) among
 * the users added who have not enrolled, named by the kinds the change adds, and worded for one
 * user as for several.
 */
function invitations({ added, mailed }: ChangePreview): string {
  if (mailed === 0) return 'Nobody will be mailed.';
  const { caseManagers, vendorCaseManagers } = added.byKind;
  const [one, many] =
    caseManagers > 0 && vendorCaseManagers > 0
      ? ['case manager or vendor case manager', 'case managers and vendor case managers']
      : vendorCaseManagers > 0
        ? ['vendor case manager', 'vendor case managers']
        : ['case manager', 'case managers'];
  if (added.total === 1) return `They have not enrolled yet and will be mailed an invitation to enrol.`;
  if (mailed === added.total) return `None of them has enrolled yet: all ${mailed} will be mailed an invitation to enrol.`;
  if (mailed === 1) return `One of them, a ${one} who has not enrolled, will be mailed an invitation to enrol.`;
  return `${mailed} of them, the ${many} who have not enrolled, will be mailed an invitation to enrol.`;
}

/** The dialog's sentences, from the server's preview. */
export function previewSentences(preview: ChangePreview): string[] {
  const lines: string[] = [];
  const { added, removed } = preview;
  if (added.total > 0) lines.push(`${plural(added.total, 'user')} will have to use MFA: ${byKind(added.byKind)}.`);
  if (removed.total > 0) {
    const n = preview.enrolledRemoved;
    const kept =
      n === 0
        ? ''
        : removed.total === 1
          ? ' They are enrolled and keep their authenticators and licence.'
          : n === removed.total
            ? ` All of them are enrolled and keep their authenticators and licences.`
            : n === 1
              ? ' One of them is enrolled and keeps their authenticators and licence.'
              : ` ${n} of them are enrolled and keep their authenticators and licences.`;
    lines.push(`${plural(removed.total, 'user')} will no longer be asked for a second factor: ${byKind(removed.byKind)}.${kept}`);
  }
  if (added.total === 0 && removed.total === 0) lines.push('No current user is affected: the change applies to users added later.');
  if (!preview.live) {
    if (added.total > 0) lines.push('The subscription is not live now: nobody is asked for MFA or mailed until it is.');
  } else if (added.total > 0) {
    lines.push(invitations(preview));
    if (added.byKind.corpUsers + added.byKind.foreignNationals > 0) {
      lines.push('Corp users and foreign nationals are not mailed: they are shown how to enrol at their next login.');
    }
  }
  if (preview.includesYou) lines.push('This includes you: you will be asked to set up your second factor next.');
  return lines;
}

