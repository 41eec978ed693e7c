import { useRef, useState } from 'react';
import { api, errorMessage, type MfaChange, type MfaChangePreview, type MfaOverview } from '../api';
import { ConfirmDialog } from '../components/Dialog';
import { previewSentences } from './mfa-change-words';

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
