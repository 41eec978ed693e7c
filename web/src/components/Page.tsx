import { useEffect, useId, useRef, type ReactNode } from 'react';
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

/** A titled card is a section named by its heading (a region landmark). */
export function Card({ title, children, className }: { title?: string; children: ReactNode; className?: string }) {
  const headingId = useId();
  return (
    <section className={className ? `card ${className}` : 'card'} aria-labelledby={title ? headingId : undefined}>
      {title ? <h2 id={headingId}>{title}</h2> : null}
      {children}
    </section>
  );
}
