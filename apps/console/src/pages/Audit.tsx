// The audit log: filters, infinite scroll over cursor pages, the hash chain's verification status
// (admins), and export as a signed download link.
import { useEffect, useState, type FormEvent } from 'react';
import { api, messageOf } from '../api.ts';
import { useTitle } from '../router.tsx';
import { isAdmin, useMe } from '../session.ts';
import { Loading, Notice, Time, useLoad } from '../components/ui.tsx';
import { DataTable, TextField } from '../components/fields.tsx';
import { LoadMore } from '../components/LoadMore.tsx';
import { useCursorList, type CursorPage } from '../hooks/useCursorList.ts';

export interface AuditEvent {
  id: string;
  seq: string;
  time: string;
  source: string;
  actor: { type: string; id: string | null; apiKeyId?: string; ip?: string };
  action: string;
  target?: { type: string; id: string };
  outcome: 'success' | 'failure' | 'denied';
  ownerId: string | null;
  metadata: Record<string, unknown>;
}

interface Filters {
  action: string;
  outcome: string;
  from: string;
  to: string;
}

const EMPTY: Filters = { action: '', outcome: '', from: '', to: '' };
const PAGE_SIZE = 50;
const ACTIONS = [
  'auth.',
  'auth.login.failed',
  'apikey.',
  'email.',
  'email.sent',
  'email.failed',
  'ai.',
  'webhook.',
  'audit.exported',
  'security.',
];

/** The query string of a filter set (datetime-local values become ISO times in the user's zone). */
export function filterQuery(filters: Filters): URLSearchParams {
  const q = new URLSearchParams();
  if (filters.action.trim()) q.set('action', filters.action.trim());
  if (filters.outcome) q.set('outcome', filters.outcome);
  if (filters.from) q.set('from', new Date(filters.from).toISOString());
  if (filters.to) q.set('to', new Date(filters.to).toISOString());
  return q;
}

export function Audit() {
  useTitle('Audit log');
  const me = useMe();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  // A new filter set starts the list over.
  const list = useCursorList<AuditEvent>(
    (cursor, signal) => {
      const q = filterQuery(filters);
      q.set('limit', String(PAGE_SIZE));
      if (cursor) q.set('cursor', cursor);
      return api<CursorPage<AuditEvent>>(`/api/audit/events?${q.toString()}`, { signal });
    },
    filters,
    (ev) => ev.id,
  );
  const { items, done, error } = list;

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setFilters({ ...draft });
  };
  const field = (name: keyof Filters) => ({
    value: draft[name],
    onChange: (value: string) => setDraft({ ...draft, [name]: value }),
  });

  return (
    <section>
      <h1 tabIndex={-1}>Audit log</h1>
      {isAdmin(me) ? <ChainStatus /> : null}
      <form className="filters" onSubmit={apply} aria-label="Filters">
        <div>
          <TextField
            id="f-action"
            label="Action (or its beginning)"
            list="audit-actions"
            placeholder="e.g. email."
            {...field('action')}
          />
          <datalist id="audit-actions">
            {ACTIONS.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </div>
        <div>
          <label htmlFor="f-outcome">Outcome</label>
          <select
            id="f-outcome"
            value={draft.outcome}
            onChange={(e) => setDraft({ ...draft, outcome: e.target.value })}
          >
            <option value="">Any</option>
            <option value="success">Success</option>
            <option value="failure">Failure</option>
            <option value="denied">Denied</option>
          </select>
        </div>
        <div>
          <TextField id="f-from" label="From" type="datetime-local" {...field('from')} />
        </div>
        <div>
          <TextField id="f-to" label="To" type="datetime-local" {...field('to')} />
        </div>
        <div className="actions">
          <button type="submit">Apply filters</button>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              setDraft(EMPTY);
              setFilters(EMPTY);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <Export filters={filters} />
      {error ? <Notice kind="error">{error}</Notice> : null}
      <DataTable
        className="events"
        caption={
          <>
            {items.length} event{items.length === 1 ? '' : 's'} shown
            {done ? '' : ', more load as you scroll'}
          </>
        }
        columns={['Time', 'Action', 'Outcome', 'Actor', 'Target']}
      >
        {items.map((ev) => (
          <tr key={ev.id} data-testid="audit-row" data-action={ev.action}>
            <td>
              <Time iso={ev.time} />
            </td>
            <td>
              <code>{ev.action}</code>
            </td>
            <td>
              <span className={`status status-${ev.outcome}`}>{ev.outcome}</span>
            </td>
            <td>
              {ev.actor.type}
              {ev.actor.id ? <span className="muted"> {shortId(ev.actor.id)}</span> : null}
            </td>
            <td>
              {ev.target ? (
                <>
                  {ev.target.type} <span className="muted">{shortId(ev.target.id)}</span>
                </>
              ) : (
                '—'
              )}
            </td>
          </tr>
        ))}
      </DataTable>
      <LoadMore list={list} what="events" />
      {done && items.length === 0 && !error ? <p>No events match these filters.</p> : null}
    </section>
  );
}

export function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}

interface Verification {
  valid: boolean;
  checked: number;
  firstBrokenSeq: string | null;
  reason: string | null;
  head: { seq: string; hash: string } | null;
}

function ChainStatus() {
  const result = useLoad((signal) => api<Verification>('/api/audit/verify', { signal }), 'verify');
  const v = result.data;
  return (
    <section className="panel" aria-labelledby="chain-heading">
      <div className="item-head">
        <h2 id="chain-heading">Chain verification</h2>
        <button
          type="button"
          className="secondary"
          onClick={result.reload}
          disabled={result.loading}
        >
          Verify again
        </button>
      </div>
      {result.loading ? <Loading what="the verification" /> : null}
      {result.error ? <Notice kind="error">{result.error}</Notice> : null}
      {v && !result.loading ? (
        v.valid ? (
          <p className="chain-ok" data-testid="chain-status">
            Intact: {v.checked} events checked
            {v.head ? `, up to #${v.head.seq}` : ''}.
          </p>
        ) : (
          <p className="chain-broken" role="alert" data-testid="chain-status">
            Broken at event #{v.firstBrokenSeq} ({v.reason?.replace(/_/g, ' ')}). Investigate before
            trusting events after it.
          </p>
        )
      ) : null}
    </section>
  );
}

function Export({ filters }: { filters: Filters }) {
  const [format, setFormat] = useState<'csv' | 'ndjson'>('csv');
  const [link, setLink] = useState<{ url: string; expiresAt: string }>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  // A link carries the filters it was made for: a new filter set needs a new link.
  useEffect(() => setLink(undefined), [filters, format]);

  const create = async () => {
    setBusy(true);
    setError(undefined);
    const q = filterQuery(filters);
    q.set('format', format);
    try {
      setLink(await api<{ url: string; expiresAt: string }>(`/api/audit/export?${q.toString()}`));
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel export" aria-labelledby="export-heading">
      <h2 id="export-heading">Export</h2>
      <p className="muted">Exports every event that matches the filters above.</p>
      <div className="actions">
        <label className="inline">
          Format{' '}
          <select value={format} onChange={(e) => setFormat(e.target.value as 'csv' | 'ndjson')}>
            <option value="csv">CSV</option>
            <option value="ndjson">NDJSON</option>
          </select>
        </label>
        <button type="button" onClick={() => void create()} disabled={busy}>
          Create download link
        </button>
        {link ? (
          <a href={link.url} download data-testid="export-link">
            Download the {format.toUpperCase()} file
          </a>
        ) : null}
      </div>
      {link ? (
        <p className="muted" role="status">
          The link works until <Time iso={link.expiresAt} />.
        </p>
      ) : null}
      {error ? <Notice kind="error">{error}</Notice> : null}
    </section>
  );
}
