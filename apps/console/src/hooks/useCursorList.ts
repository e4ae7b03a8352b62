// A list read page by page with the API's opaque cursors (`{ items, nextCursor }`): a new key
// (compared with Object.is, so a fresh object of the same filters reads again) starts it over, loadMore appends the next page, and a newer request cancels the older one.
import { useCallback, useEffect, useRef, useState } from 'react';
import { isAbort, messageOf } from '../api.ts';

export interface CursorPage<T> {
  items: T[];
  nextCursor: string | null;
}

export interface CursorList<T> {
  items: T[];
  error: string | undefined;
  loading: boolean;
  /** true once the last page is in */
  done: boolean;
  loadMore: () => void;
  /** Changes loaded items in place (after an action on a row), without reading them again. */
  update: (change: (items: T[]) => T[]) => void;
}

export function useCursorList<T>(
  fetchPage: (cursor: string | null, signal: AbortSignal) => Promise<CursorPage<T>>,
  key: unknown,
  /** the identity of an item: a position cursor can repeat one when the list moves under it */
  idOf: (item: T) => string,
): CursorList<T> {
  const [items, setItems] = useState<T[]>([]);
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(false);
  const [done, setDone] = useState(false);
  const cursor = useRef<string | null>(null);
  const inflight = useRef<AbortController | undefined>(undefined);
  const fetcher = useRef(fetchPage);
  fetcher.current = fetchPage;
  const identity = useRef(idOf);
  identity.current = idOf;
  const finished = useRef(false);

  const load = useCallback(async (reset: boolean) => {
    if (!reset && (finished.current || inflight.current)) return;
    inflight.current?.abort();
    const controller = new AbortController();
    inflight.current = controller;
    if (reset) {
      cursor.current = null;
      finished.current = false;
      setItems([]);
      setDone(false);
    }
    setLoading(true);
    setError(undefined);
    try {
      const page = await fetcher.current(cursor.current, controller.signal);
      setItems((list) => {
        const seen = new Set(list.map((item) => identity.current(item)));
        return [...list, ...page.items.filter((item) => !seen.has(identity.current(item)))];
      });
      cursor.current = page.nextCursor;
      finished.current = page.nextCursor === null;
      setDone(finished.current);
    } catch (err) {
      if (isAbort(err)) return;
      setError(messageOf(err));
    } finally {
      if (inflight.current === controller) {
        inflight.current = undefined;
        setLoading(false);
      }
    }
  }, []);

  useEffect(() => {
    void load(true);
  }, [key, load]);
  useEffect(() => () => inflight.current?.abort(), []);

  const loadMore = useCallback(() => void load(false), [load]);
  return { items, error, loading, done, loadMore, update: setItems };
}
