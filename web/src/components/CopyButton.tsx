import { useState } from 'react';

/**
 * Copies a value to the clipboard and says so (to screen readers too). Where the browser
 * refuses (no clipboard permission), it says to copy by hand: the value is always on screen.
 */
export function CopyButton({ value, label }: { value: string; label: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');

  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
      setState('copied');
    } catch {
      setState('failed');
    }
  }

  return (
    <span className="copy">
      <button type="button" className="button-secondary button-small" aria-label={`Copy ${label}`} onClick={() => void copy()}>
        {state === 'copied' ? 'Copied' : 'Copy'}
      </button>
      <span role="status" className={state === 'failed' ? 'copy-status copy-failed' : 'visually-hidden'}>
        {state === 'copied' ? `${label} copied.` : state === 'failed' ? 'This browser did not let the page copy: select the text and copy it.' : ''}
      </span>
    </span>
  );
}
