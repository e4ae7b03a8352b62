// Labelled form controls: every input gets its <label>, so no page can forget one.
import type { InputHTMLAttributes, ReactNode } from 'react';

type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'value' | 'onChange'>;

/** A text-like input with its label; `onChange` receives the new value. */
export function TextField({
  id,
  label,
  value,
  onChange,
  ...input
}: InputProps & {
  id: string;
  label: ReactNode;
  value: string;
  onChange: (value: string) => void;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input id={id} value={value} onChange={(e) => onChange(e.target.value)} {...input} />
    </>
  );
}

export interface Column {
  label: string;
  /** read by screen readers only (an actions column) */
  hidden?: boolean;
}

/** A table that scrolls sideways on a phone instead of widening the page. */
export function DataTable({
  columns,
  caption,
  className,
  children,
}: {
  columns: Array<string | Column>;
  caption?: ReactNode;
  className?: string;
  children: ReactNode;
}) {
  return (
    <div className="table-wrap">
      <table className={className}>
        {caption !== undefined ? <caption>{caption}</caption> : null}
        <thead>
          <tr>
            {columns.map((c) => {
              const column = typeof c === 'string' ? { label: c } : c;
              return (
                <th key={column.label} scope="col">
                  {column.hidden ? (
                    <span className="visually-hidden">{column.label}</span>
                  ) : (
                    column.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
