import { useState } from 'react';
import { ErrorAlert, StatusNotice } from '../../components/Notice';

interface BackupCodesProps {
  codes: readonly string[];
  /** Who the codes are for, written into the downloaded file. */
  owner: string;
  continueLabel?: string;
  /** What the codes stand in for when it is lost: "your phone", "your security key" (the method enrolled). */
  lost?: string;
  onContinue(): void;
}

/** Backup codes, shown once (after a first enrollment or a new set): copy, download, continue. */
export function BackupCodes({ codes, owner, continueLabel = 'Continue', lost, onContinue }: BackupCodesProps) {
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function copy() {
    setStatus(null);
    setError(null);
    try {
      await navigator.clipboard.writeText(codes.join('\n'));
      setStatus('The backup codes were copied.');
    } catch {
      setError('This browser did not let the page copy. Select the codes and copy them, or download them.');
    }
  }

  function download() {
    setStatus(null);
    setError(null);
    const text = [
      `Tessera backup codes for ${owner}`,
      `Created ${new Date().toLocaleString()}`,
      '',
      'Each code works once. Keep them somewhere safe.',
      '',
      ...codes,
      '',
    ].join('\n');
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = 'tessera-backup-codes.txt';
    document.body.append(link);
    link.click();
    link.remove();
    // Revoked after the click has started the download.
    window.setTimeout(() => URL.revokeObjectURL(url), 1000);
    setStatus('The backup codes were downloaded.');
  }

  return (
    <div className="backup-codes">
      <p>
        Each code works once. Keep them somewhere safe: they get you in if you lose {lost ?? 'your phone or security key'}. They are
        shown only now.
      </p>
      <ul className="code-list" aria-label="Backup codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ul>
      <StatusNotice message={status} />
      <ErrorAlert message={error} />
      <div className="form-actions">
        <button type="button" className="button-secondary" onClick={() => void copy()}>
          Copy codes
        </button>
        <button type="button" className="button-secondary" onClick={download}>
          Download codes
        </button>
        <button type="button" onClick={onContinue}>
          {continueLabel}
        </button>
      </div>
    </div>
  );
}
