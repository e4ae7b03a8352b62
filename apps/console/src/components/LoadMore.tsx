// The end of a paged list: the next page loads when this comes into view (infinite scroll), and a
// Load more button does the same for keyboards and for browsers that do not scroll.
import { useEffect, useRef } from 'react';
import { Loading } from './ui.tsx';
import type { CursorList } from '../hooks/useCursorList.ts';

export function LoadMore({
  list,
  what,
}: {
  list: Pick<CursorList<unknown>, 'loading' | 'done' | 'error' | 'loadMore'>;
  what: string;
}) {
  const sentinel = useRef<HTMLDivElement>(null);
  const more = useRef(list.loadMore);
  more.current = list.loadMore;
  useEffect(() => {
    const el = sentinel.current;
    if (!el) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) more.current();
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return (
    <>
      <div ref={sentinel} className="sentinel" />
      {list.loading ? <Loading what={what} /> : null}
      {!list.loading && !list.done ? (
        <button type="button" className="secondary" onClick={list.loadMore}>
          Load more
        </button>
      ) : null}
    </>
  );
}
