import { useRef, useState } from 'react';
import { api, errorMessage, type MfaChange, type MfaChangePreview, type MfaOverview } from '../api';
import { ConfirmDialog } from '../components/Dialog';
import { plural } from '../words';

/**
 * A change of who must use MFA, made on purpose (issue 16.3): the server previews it (how many
 * users come under MFA or leave it, who is mailed), the administrator confirms it in the app's
 * own dialog, and only then is it made; a "saved" notice says so. Cancel (or Escape) leaves
 * everything as it was: the switches are drawn from the server's overview, never from a click.
 */
export interface ProposedChange {
  /** The question: "Enable MFA for all case managers?" */
  title: string;
  /** The button that makes the change. */
  confirmLabel: string;
  /** What the notice says once it is saved. */
  saved: string;
  change: MfaChange;
  /** Makes the change; answers the new overview. */
  run(): Promise<MfaOverview>;
  /** A sentence of its own for this change (e.g. the corporation list is kept). */
  note?: string;
}

const KIND_WORDS: [keyof MfaChangePreview['added']['byKind'], string, string][] = [
  ['caseManagers', 'case manager', 'case managers'],
  ['vendorCaseManagers', 'vendor case manager', 'vendor case managers'],
  ['corpUsers', 'corp user', 'corp users'],
  ['foreignNationals', 'foreign national', 'foreign nationals'],
];

/** "3 case managers and 1 corp user". */
function byKind(counts: MfaChangePreview['added']['byKind']): string {
  const parts = KIND_WORDS.filter(([key]) => counts[key] > 0).map(([key, one, many]) => plural(counts[key], one, many));
  return parts.length <= 1 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/** The dialog's sentences, from the server's preview. */
export function previewSentences(preview: MfaChangePreview): string[] {
  const lines: string[] = [];
  const { added, removed } = preview;
  if (added.total > 0) lines.push(`${plural(added.total, 'user')} will have to use MFA: ${byKind(added.byKind)}.`);
  if (removed.total > 0) {
    const n = preview.enrolledRemoved;
    const kept = n === 0 ? '' : n === 1 ? ' One of them is enrolled and keeps their authenticators and licence.' : ` ${n} of them are enrolled and keep their authenticators and licences.`;
    lines.push(`${plural(removed.total, 'user')} will no longer be asked for a second factor: ${byKind(removed.byKind)}.${kept}`);
  }
  if (added.total === 0 && removed.total === 0) lines.push('No current user is affected: the change applies to users added later.');
  if (!preview.live) {
    if (added.total > 0) lines.push('The subscription is not live now: nobody is asked for MFA or mailed until it is.');
  } else if (added.total > 0) {
    lines.push(
      preview.mailed === 0
        ? 'Nobody will be mailed.'
        : preview.mailed === 1
          ? 'One of them, a case manager or vendor case manager who has not enrolled, will be mailed an invitation to enrol.'
          : `${preview.mailed} of them, the case managers and vendor case managers who have not enrolled, will be mailed an invitation to enrol.`,
    );
    if (added.byKind.corpUsers + added.byKind.foreignNationals > 0) {
      lines.push('Corp users and foreign nationals are not mailed: they are shown how to enrol at their next login.');
    }
  }
  if (preview.includesYou) lines.push('This includes you: you will be asked to set up your second factor next.');
  return lines;
}

/** The state behind the dialog: propose a change, confirm or cancel it, and the notices. */
export function useMfaChange(onChanged: (next: MfaOverview) => void) {
  const [proposal, setProposal] = useState<{ change: ProposedChange; preview: MfaChangePreview } | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  // One question at a time. The switches stay enabled meanwhile (the modal dialog makes the
  // page inert): a disabled switch would lose the focus the dialog gives back when it closes.
  const asking = useRef(false);

  async function propose(change: ProposedChange) {
    if (asking.current) return;
    asking.current = true;
    setSaved(null);
    setError(null);
    try {
      const preview = await api.post('/admin/mfa/preview', { body: change.change });
      setProposal({ change, preview });
    } catch (cause) {
      asking.current = false;
      setError(errorMessage(cause));
    }
  }

  function close() {
    asking.current = false;
    setProposal(null);
  }

  const dialog = proposal ? (
    <ConfirmDialog
      title={proposal.change.title}
      confirmLabel={proposal.change.confirmLabel}
      danger={proposal.preview.removed.total > 0 && proposal.preview.added.total === 0}
      onCancel={close}
      onConfirm={async () => {
        const next = await proposal.change.run();
        onChanged(next);
        close();
        setSaved(proposal.change.saved);
      }}
    >
      {previewSentences(proposal.preview).map((line) => (
        <p key={line}>{line}</p>
      ))}
      {proposal.change.note ? <p className="muted">{proposal.change.note}</p> : null}
    </ConfirmDialog>
  ) : null;

  return { propose, dialog, saved, error };
}
