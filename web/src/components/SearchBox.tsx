import { useEffect, useId, useState, type ReactNode } from 'react';

interface SearchBoxProps {
  label: string;
  value: string;
  onSearch(value: string): void;
  /** Extra filters shown beside the search field. */
  children?: ReactNode;
}

/** Searches as you type (after a short pause) and at once on Enter. */
export function SearchBox({ label, value, onSearch, children }: SearchBoxProps) {
  const id = useId();
  const [text, setText] = useState(value);

  useEffect(() => {
    if (text.trim() === value) return;
    const timer = window.setTimeout(() => onSearch(text.trim()), 300);
    return () => window.clearTimeout(timer);
  }, [text, value, onSearch]);

  return (
    <form
      role="search"
      className="toolbar"
      onSubmit={(event) => {
        event.preventDefault();
        onSearch(text.trim());
      }}
    >
      <div className="field">
        <label htmlFor={id}>{label}</label>
        <input id={id} type="search" value={text} onChange={(event) => setText(event.target.value)} />
      </div>
      {children}
    </form>
  );
}
