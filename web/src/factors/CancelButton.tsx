/**
 * An enrollment's Cancel, where there is one: adding an authenticator from My security can be
 * given up; the enrollment of a first login cannot (the login waits for it), so it has none.
 */
export function CancelButton({ onCancel }: { onCancel?(): void }) {
  return onCancel ? (
    <button type="button" className="button-secondary" onClick={onCancel}>
      Cancel
    </button>
  ) : null;
}
