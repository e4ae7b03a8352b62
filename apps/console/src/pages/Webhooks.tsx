// Webhooks: register an endpoint for events (its signing secret shown once), rotate the secret,
// see recent delivery attempts, delete it.
import { useState, type FormEvent } from 'react';
import { api } from '../api.ts';
import { useTitle } from '../router.tsx';
import { Loading, Notice, SecretOnce, Time, useLoad } from '../components/ui.tsx';
import { DataTable, TextField } from '../components/fields.tsx';
import { useAction } from '../hooks/useAction.ts';

interface Endpoint {
  id: string;
  url: string;
  events: string[];
  createdAt: string;
}

interface Attempt {
  eventId: string;
  event: string;
  attempt: number;
  at: string;
  ok: boolean;
  status?: number;
  error?: string;
}

const EVENTS = ['email.sent', 'email.failed', 'ai.completed', 'security.alert'];

export function Webhooks() {
  useTitle('Webhooks');
  const endpoints = useLoad(
    (signal) => api<{ items: Endpoint[] }>('/api/webhooks', { signal }),
    'webhooks',
  );
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>(['email.sent', 'email.failed']);
  const [secret, setSecret] = useState<{ label: string; value: string }>();
  const [invalid, setInvalid] = useState<string>();
  const [busy, setBusy] = useState(false);
  const action = useAction();
  const error = invalid ?? action.error;

  const register = async (e: FormEvent) => {
    e.preventDefault();
    setInvalid(events.length === 0 ? 'Choose at least one event.' : undefined);
    if (events.length === 0) return;
    setBusy(true);
    await action.run(async () => {
      const created = await api<Endpoint & { secret: string }>('/api/webhooks', {
        method: 'POST',
        json: { url, events },
        headers: { 'idempotency-key': crypto.randomUUID() },
      });
      setSecret({ label: `Signing secret for ${created.url}.`, value: created.secret });
      setUrl('');
      endpoints.reload();
    });
    setBusy(false);
  };

  const rotate = (endpoint: Endpoint) =>
    action.run(async () => {
      setInvalid(undefined);
      const rotated = await api<Endpoint & { secret: string }>(
        `/api/webhooks/${endpoint.id}/rotate-secret`,
        { method: 'POST' },
      );
      setSecret({ label: `New signing secret for ${rotated.url}.`, value: rotated.secret });
    });

  const remove = (endpoint: Endpoint) =>
    action.run(async () => {
      setInvalid(undefined);
      await api(`/api/webhooks/${endpoint.id}`, { method: 'DELETE' });
      endpoints.reload();
    });

  const items = endpoints.data?.items ?? [];
  return (
    <section>
      <h1 tabIndex={-1}>Webhooks</h1>
      <p className="muted">
        SecureVault posts signed JSON to your endpoints when these events happen, and retries failed
        deliveries.
      </p>
      <form onSubmit={(e) => void register(e)} className="stack panel" aria-labelledby="new-hook">
        <h2 id="new-hook">Register an endpoint</h2>
        <TextField
          id="hook-url"
          label="URL"
          type="url"
          required
          maxLength={2048}
          placeholder="https://example.com/hooks/securevault"
          value={url}
          onChange={setUrl}
        />
        <fieldset>
          <legend>Events</legend>
          {EVENTS.map((ev) => (
            <label key={ev} className="choice">
              <input
                type="checkbox"
                checked={events.includes(ev)}
                onChange={(e) =>
                  setEvents((list) =>
                    e.target.checked ? [...list, ev] : list.filter((x) => x !== ev),
                  )
                }
              />
              <code>{ev}</code>
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={busy}>
          Register
        </button>
      </form>
      {secret ? <SecretOnce label={secret.label} value={secret.value} /> : null}
      {error ? <Notice kind="error">{error}</Notice> : null}
      <h2>Your endpoints</h2>
      {endpoints.loading && !endpoints.data ? <Loading what="endpoints" /> : null}
      {endpoints.error ? <Notice kind="error">{endpoints.error}</Notice> : null}
      {endpoints.data && items.length === 0 ? <p>No endpoints yet.</p> : null}
      <ul className="list">
        {items.map((ep) => (
          <li key={ep.id} className="item">
            <div className="item-head">
              <strong className="break">{ep.url}</strong>
              <span className="muted">
                since <Time iso={ep.createdAt} />
              </span>
            </div>
            <p className="muted">{ep.events.join(', ')}</p>
            <div className="actions">
              <button type="button" className="secondary" onClick={() => void rotate(ep)}>
                Rotate secret
              </button>
              <button type="button" className="danger" onClick={() => void remove(ep)}>
                Delete
              </button>
            </div>
            <Deliveries endpoint={ep} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function Deliveries({ endpoint }: { endpoint: Endpoint }) {
  const [open, setOpen] = useState(false);
  return (
    <details onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Recent deliveries</summary>
      {open ? <AttemptList id={endpoint.id} /> : null}
    </details>
  );
}

function AttemptList({ id }: { id: string }) {
  const attempts = useLoad(
    (signal) => api<{ items: Attempt[] }>(`/api/webhooks/${id}/attempts`, { signal }),
    id,
  );
  if (attempts.loading && !attempts.data) return <Loading what="deliveries" />;
  if (attempts.error) return <Notice kind="error">{attempts.error}</Notice>;
  const items = attempts.data?.items ?? [];
  if (items.length === 0) return <p className="muted">No deliveries yet.</p>;
  return (
    <DataTable columns={['Time', 'Event', 'Attempt', 'Result']}>
      {items.map((a, i) => (
        <tr key={`${a.eventId}-${a.attempt}-${i}`}>
          <td>
            <Time iso={a.at} />
          </td>
          <td>
            <code>{a.event}</code>
          </td>
          <td>{a.attempt}</td>
          <td>
            <span className={`status status-${a.ok ? 'sent' : 'failed'}`}>
              {a.ok ? 'delivered' : 'failed'}
            </span>{' '}
            {a.status !== undefined ? `HTTP ${a.status}` : (a.error ?? '')}
          </td>
        </tr>
      ))}
    </DataTable>
  );
}
