import type { ReactNode } from 'react';

export interface Column<T> {
  header: string;
  cell(row: T): ReactNode;
  className?: string;
}

export interface Paging {
  page: number;
  pageSize: number;
  total: number;
  onPage(page: number): void;
}

interface DataTableProps<T> {
  /** The table's accessible name. */
  label: string;
  columns: readonly Column<T>[];
  rows: readonly T[] | undefined;
  rowKey(row: T): string;
  emptyText: string;
  loading?: boolean;
  paging?: Paging;
  /** A class for a row that must stand out (say also in words what sets it apart: colour is not enough). */
  rowClassName?(row: T): string | undefined;
}

/**
 * A table that turns into stacked cards on narrow screens (each cell then shows its
 * column name, hidden from assistive technology, which already has the header), with
 * optional pagination below it.
 */
export function DataTable<T>({ label, columns, rows, rowKey, emptyText, loading, paging, rowClassName }: DataTableProps<T>) {
  return (
    <div className="table-block">
      <div className="table-scroll">
        <table className="data-table" aria-label={label} aria-busy={loading || undefined}>
          <thead>
            <tr>
              {columns.map((column) => (
                <th key={column.header} scope="col" className={column.className}>
                  {column.header}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows === undefined ? (
              <tr>
                <td colSpan={columns.length} className="table-empty">
                  Loading…
                </td>
              </tr>
            ) : rows.length === 0 ? (
              <tr>
                <td colSpan={columns.length} className="table-empty">
                  {emptyText}
                </td>
              </tr>
            ) : (
              rows.map((row) => (
                <tr key={rowKey(row)} className={rowClassName?.(row)}>
                  {columns.map((column) => (
                    <td key={column.header} className={column.className}>
                      <span className="cell-label" aria-hidden="true">
                        {column.header}
                      </span>
                      <div className="cell-value">{column.cell(row)}</div>
                    </td>
                  ))}
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
      {paging ? <Pagination label={label} {...paging} /> : null}
    </div>
  );
}

function Pagination({ label, page, pageSize, total, onPage }: Paging & { label: string }) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return (
    <nav className="pagination" aria-label={`${label} pages`}>
      <button type="button" className="button-secondary" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous page
      </button>
      <span>
        Page {page} of {pages}
      </span>
      <button type="button" className="button-secondary" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next page
      </button>
    </nav>
  );
}
