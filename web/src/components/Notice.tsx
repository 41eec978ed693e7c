/** An error from the server or a failed check, announced to assistive technology. */
export function ErrorAlert({ message }: { message: string | null | undefined }) {
  if (!message) return null;
  return (
    <p role="alert" className="notice notice-error">
      {message}
    </p>
  );
}

/** A success message, announced politely. */
export function StatusNotice({ message }: { message: string | null | undefined }) {
  if (!message) return null;
  return (
    <p role="status" className="notice notice-success">
      {message}
    </p>
  );
}
