import { useId, type InputHTMLAttributes, type ReactNode, type TextareaHTMLAttributes } from 'react';

interface ShellProps {
  label: string;
  hint?: ReactNode;
  children: (ids: { id: string; hintId: string | undefined }) => ReactNode;
}

/** A label above its control, with an optional hint tied to it by aria-describedby. */
function FieldShell({ label, hint, children }: ShellProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, hintId })}
      {hint ? (
        <p id={hintId} className="field-hint">
          {hint}
        </p>
      ) : null}
    </div>
  );
}

type TextFieldProps = Omit<InputHTMLAttributes<HTMLInputElement>, 'onChange' | 'value' | 'id'> & {
  label: string;
  value: string;
  onChange(value: string): void;
  hint?: ReactNode;
};

export function TextField({ label, value, onChange, hint, type = 'text', ...rest }: TextFieldProps) {
  return (
    <FieldShell label={label} hint={hint}>
      {({ id, hintId }) => (
        <input
          id={id}
          type={type}
          value={value}
          aria-describedby={hintId}
          onChange={(event) => onChange(event.target.value)}
          {...rest}
        />
      )}
    </FieldShell>
  );
}

type TextAreaFieldProps = Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, 'onChange' | 'value' | 'id'> & {
  label: string;
  value: string;
  onChange(value: string): void;
  hint?: ReactNode;
};

/** Several lines of text (a list, one item per line). */
export function TextAreaField({ label, value, onChange, hint, rows = 3, ...rest }: TextAreaFieldProps) {
  return (
    <FieldShell label={label} hint={hint}>
      {({ id, hintId }) => (
        <textarea id={id} value={value} rows={rows} aria-describedby={hintId} onChange={(event) => onChange(event.target.value)} {...rest} />
      )}
    </FieldShell>
  );
}

export interface Option {
  value: string;
  label: string;
}

interface SelectFieldProps {
  label: string;
  value: string;
  options: readonly Option[];
  onChange(value: string): void;
  hint?: ReactNode;
  required?: boolean;
  disabled?: boolean;
}

export function SelectField({ label, value, options, onChange, hint, required, disabled }: SelectFieldProps) {
  return (
    <FieldShell label={label} hint={hint}>
      {({ id, hintId }) => (
        <select
          id={id}
          value={value}
          required={required}
          disabled={disabled}
          aria-describedby={hintId}
          onChange={(event) => onChange(event.target.value)}
        >
          {options.map((option) => (
            <option key={option.value} value={option.value}>
              {option.label}
            </option>
          ))}
        </select>
      )}
    </FieldShell>
  );
}

interface CheckboxFieldProps {
  label: string;
  checked: boolean;
  onChange(checked: boolean): void;
  hint?: ReactNode;
}

export function CheckboxField({ label, checked, onChange, hint }: CheckboxFieldProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div className="field field-checkbox">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        aria-describedby={hintId}
        onChange={(event) => onChange(event.target.checked)}
      />
      <label htmlFor={id}>{label}</label>
      {hint ? (
        <p id={hintId} className="field-hint">
          {hint}
        </p>
      ) : null}
    </div>
  );
}
