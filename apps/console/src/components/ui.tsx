// Small shared pieces: messages, loading state, date formatting, a data-loading hook.
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { isAbort, messageOf } from '../api.ts';

/** An error (announced at once) or a confirmation (announced politely). */
export function Notice({
  kind,
  children,
}: {
  kind: 'error' | 'success' | 'info';
  children: ReactNode;
}) {
  if (kind === 'error') {
    return (
      <p className="notice notice-error" role="alert">
        {children}
      </p>
    );
  }
  return (
    <p className={`notice notice-${kind}`} role="status">
      {children}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateTime.format(date);
}

export function Time({ iso }: { iso: string | null | undefined }) {
  return iso ? <time dateTime={iso}>{formatTime(iso)}</time> : <>—</>;
}

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `key` changes (and on reload); a newer run cancels the older one. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, key: string): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loader = useRef(load);
  loader.current = load;
  useEffect(() => {
    const abort = new AbortController();
    setLoading(true);
    setError(undefined);
    loader.current(abort.signal).then(
      (value) => {
        if (abort.signal.aborted) return;
        setData(value);
        setLoading(false);
      },
      (err: unknown) => {
        if (abort.signal.aborted || isAbort(err)) return;
        setError(messageOf(err));
        setLoading(false);
      },
    );
    return () => abort.abort();
  }, [key, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** A one-time secret (API key, webhook secret) with a copy button. */
export function SecretOnce({ label, value }: { label: string; value: string }) {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    // No clipboard API outside secure contexts: the value stays selectable by hand.
    if (!('clipboard' in navigator)) return;
    navigator.clipboard.writeText(value).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  };
  return (
    <div className="secret" role="status">
      <p>
        <strong>{label}</strong> It is shown only this once: store it somewhere safe now.
      </p>
      <div className="secret-row">
        <code data-testid="secret-value">{value}</code>
        <button type="button" className="secondary" onClick={copy}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
    </div>
  );
}
