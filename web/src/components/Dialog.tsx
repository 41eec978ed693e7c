import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { errorMessage } from '../api';
import { ErrorAlert } from './Notice';

const FOCUSABLE = 'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])';

/**
 * A modal dialog on the browser's own <dialog> (showModal): the rest of the page is inert,
 * focus stays inside and goes back where it was when the dialog closes, and the dialog is
 * named by its heading (Tab and Shift+Tab go round its controls). Mount it to open it, unmount it to close it. Escape calls `onClose`,
 * unless the dialog must be closed by one of its buttons (a secret shown once). The element
 * marked `data-autofocus` gets the focus (else the browser's choice: the first control).
 */
export function Dialog({
  title,
  children,
  onClose,
  closeOnEscape = true,
  role = 'dialog',
}: {
  title: string;
  children: ReactNode;
  onClose?(): void;
  closeOnEscape?: boolean;
  /** alertdialog for a question that needs an answer (a confirmation). */
  role?: 'dialog' | 'alertdialog';
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const headingId = useId();

  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (dialog && !dialog.open) dialog.showModal();
    dialog?.querySelector<HTMLElement>('[data-autofocus]')?.focus();
    return () => {
      dialog?.close();
      // The element that opened the dialog may be gone (a row deleted): then focus stays where the browser puts it.
      if (opener?.isConnected) opener.focus();
    };
  }, []);

  return (
    <dialog
      ref={ref}
      className="dialog"
      role={role}
      aria-labelledby={headingId}
      onKeyDown={(event) => {
        // A modal <dialog> makes the page inert, but Tab from its last control would leave for
        // the browser's own toolbar: keep the focus going round inside the dialog.
        if (event.key !== 'Tab') return;
        const controls = [...event.currentTarget.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => !el.hasAttribute('disabled') && el.offsetParent !== null);
        const first = controls[0];
        const last = controls[controls.length - 1];
        if (!first || !last) return;
        if (event.shiftKey && document.activeElement === first) {
          event.preventDefault();
          last.focus();
        } else if (!event.shiftKey && document.activeElement === last) {
          event.preventDefault();
          first.focus();
        }
      }}
      onCancel={(event) => {
        // Escape: React state decides whether the dialog goes, never the browser alone.
        event.preventDefault();
        if (closeOnEscape) onClose?.();
      }}
    >
      <h2 id={headingId}>{title}</h2>
      {children}
    </dialog>
  );
}

/**
 * "Are you sure?" in the app's own dialog (never window.confirm, which some browsers silence
 * and which cannot be styled or tested by role). Cancel has the focus, so Enter does not destroy.
 */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  danger,
  onConfirm,
  onCancel,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  /** Resolves when done (the caller then unmounts the dialog); a rejection's message is shown in the dialog. */
  onConfirm(): Promise<void>;
  onCancel(): void;
}) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function confirm() {
    setPending(true);
    setError(null);
    try {
      await onConfirm();
    } catch (cause) {
      setError(errorMessage(cause));
      setPending(false);
    }
  }

  return (
    <Dialog title={title} role="alertdialog" onClose={pending ? undefined : onCancel}>
      {children}
      <ErrorAlert message={error} />
      <div className="form-actions dialog-actions">
        <button type="button" className="button-secondary" onClick={onCancel} disabled={pending} data-autofocus>
          Cancel
        </button>
        <button type="button" className={danger ? 'button-danger-solid' : undefined} onClick={() => void confirm()} disabled={pending}>
          {confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}

export interface Question {
  title: string;
  /** What happens if the answer is yes. */
  body?: ReactNode;
  confirmLabel: string;
  danger?: boolean;
}

/**
 * `await confirm({...})` instead of the browser's own dialog (issue 16.3): resolves true on
 * the confirm button, false on Cancel or Escape. Render the
 * returned element where the page keeps its dialogs.
 */
export function useConfirm(): [(question: Question) => Promise<boolean>, ReactNode] {
  const [asked, setAsked] = useState<{ question: Question; answer(yes: boolean): void } | null>(null);
  const confirm = useCallback(
    (question: Question) =>
      new Promise<boolean>((resolve) => {
        setAsked({
          question,
          answer(yes) {
            setAsked(null);
            resolve(yes);
          },
        });
      }),
    [],
  );
  const dialog = asked ? (
    <ConfirmDialog
      title={asked.question.title}
      confirmLabel={asked.question.confirmLabel}
      danger={asked.question.danger}
      onCancel={() => asked.answer(false)}
      onConfirm={async () => asked.answer(true)}
    >
      {asked.question.body ? <p>{asked.question.body}</p> : null}
    </ConfirmDialog>
  ) : null;
  return [confirm, dialog];
}
