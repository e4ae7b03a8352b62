// Security alerts the audit service raised (GET /api/audit/alerts), newest first, page by page.
import { useEffect, useRef, useState } from 'react';
import { api, isAbort, messageOf } from '../api.ts';
import { useTitle } from '../router.tsx';
import { Loading, Notice, Time } from '../components/ui.tsx';

interface Alert {
  id: string;
  time: string;
  rule: string;
  subject: string;
  ownerId: string | null;
  eventSeq: string;
  details: Record<string, unknown>;
}

// The audit service's rules (services/audit/src/detect.ts) in words; an unknown one shows its name.
const RULES: Record<string, string> = {
  failed_logins: 'Repeated failed sign-ins',
  credential_stuffing: 'Sign-in attempts against many accounts',
  new_login_location: 'Sign-in from a new location',
  apikey_many_ips: 'API key used from many addresses',
  export_burst: 'Many audit exports',
  rate_limit_blocks: 'Repeatedly rate limited',
};

function describe(rule: string): string {
  return RULES[rule] ?? rule.replace(/[_-]/g, ' ');
}

export function Alerts() {
  useTitle('Security alerts');
  const [items, setItems] = useState<Alert[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string>();
  const abort = useRef<AbortController | undefined>(undefined);

  const load = async (next: string | null) => {
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    setLoading(true);
    setError(undefined);
    try {
      const q = new URLSearchParams({ limit: '50' });
      if (next) q.set('cursor', next);
      const page = await api<{ items: Alert[]; nextCursor: string | null }>(
        `/api/audit/alerts?${q.toString()}`,
        { signal: controller.signal },
      );
      setItems((list) => (next ? [...list, ...page.items] : page.items));
      setCursor(page.nextCursor);
      setDone(page.nextCursor === null);
    } catch (err) {
      if (!isAbort(err)) setError(messageOf(err));
    } finally {
      if (abort.current === controller) setLoading(false);
    }
  };

  useEffect(() => {
    void load(null);
    return () => abort.current?.abort();
  }, []);

  return (
    <section>
      <h1 tabIndex={-1}>Security alerts</h1>
      <p className="muted">
        Raised when the audit trail shows suspicious activity, such as many failed sign-ins. Each
        alert is itself recorded in the audit chain.
      </p>
      {error ? <Notice kind="error">{error}</Notice> : null}
      {items.length === 0 && !loading && !error ? (
        <Notice kind="success">No security alerts.</Notice>
      ) : null}
      <ul className="list">
        {items.map((a) => (
          <li key={a.id} className="item">
            <div className="item-head">
              <strong>{describe(a.rule)}</strong>
              <Time iso={a.time} />
            </div>
            <p>
              {a.subject} <span className="muted">(audit event #{a.eventSeq})</span>
            </p>
            {Object.keys(a.details).length > 0 ? (
              <dl className="meta">
                {Object.entries(a.details).map(([k, v]) => (
                  <div key={k} className="meta-row">
                    <dt>{k}</dt>
                    <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
                  </div>
                ))}
              </dl>
            ) : null}
          </li>
        ))}
      </ul>
      {loading ? <Loading what="alerts" /> : null}
      {!loading && !done ? (
        <button type="button" className="secondary" onClick={() => void load(cursor)}>
          Load more
        </button>
      ) : null}
    </section>
  );
}
