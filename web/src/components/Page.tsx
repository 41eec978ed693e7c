import { useEffect, useRef, type ReactNode } from 'react';
import { hasNavigatedInApp } from '../router';

/** One page: its <h1>, the document title, and focus on the heading after in-app navigation. */
export function Page({ title, children, wide }: { title: string; children: ReactNode; wide?: boolean }) {
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    document.title = `${title} · Tessera`;
  }, [title]);

  useEffect(() => {
    if (hasNavigatedInApp()) heading.current?.focus();
  }, []);

  return (
    <div className={wide ? 'page page-wide' : 'page'}>
      <h1 ref={heading} tabIndex={-1}>
        {title}
      </h1>
      {children}
    </div>
  );
}

export function Card({ title, children }: { title?: string; children: ReactNode }) {
  return (
    <section className="card">
      {title ? <h2>{title}</h2> : null}
      {children}
    </section>
  );
}
