// API keys: create one with scopes (the key is shown once), see them, revoke one.
import { useState, type FormEvent } from 'react';
import { api, messageOf } from '../api.ts';
import { useTitle } from '../router.tsx';
import { TextField } from '../components/fields.tsx';
import { useMe } from '../session.ts';
import { Loading, Notice, SecretOnce, Time, useLoad } from '../components/ui.tsx';

interface ApiKey {
  id: string;
  name: string;
  keyPrefix: string;
  scopes: string[];
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revoked: boolean;
}

const SCOPES: Array<{ scope: string; label: string }> = [
  { scope: 'email:send', label: 'Send email and manage webhooks' },
  { scope: 'ai:generate', label: 'Generate content' },
  { scope: 'audit:read', label: 'Read the audit log' },
  { scope: 'stats:read', label: 'Read statistics' },
  { scope: 'admin', label: 'Administer (admins only)' },
];

export function ApiKeys() {
  useTitle('API keys');
  const me = useMe();
  const keys = useLoad(
    (signal) => api<{ items: ApiKey[] }>('/api/auth/api-keys', { signal }),
    'keys',
  );
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['email:send']);
  const [created, setCreated] = useState<{ name: string; key: string }>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState<string>();
  const [message, setMessage] = useState<string>();

  const grantable = SCOPES.filter((s) => me.principal.scopes.includes(s.scope));

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setMessage(undefined);
    if (scopes.length === 0) {
      setError('Choose at least one permission.');
      return;
    }
    setBusy(true);
    try {
      const result = await api<{ id: string; key: string; name: string }>('/api/auth/api-keys', {
        method: 'POST',
        json: { name, scopes },
      });
      setCreated({ name: result.name, key: result.key });
      setName('');
      keys.reload();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (key: ApiKey) => {
    setError(undefined);
    try {
      await api(`/api/auth/api-keys/${key.id}`, { method: 'DELETE' });
      setConfirming(undefined);
      setMessage(`The key “${key.name}” is revoked: it stops working at once.`);
      keys.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  const items = keys.data?.items ?? [];
  return (
    <section>
      <h1 tabIndex={-1}>API keys</h1>
      <p className="muted">
        Applications call the API with <code>Authorization: Bearer &lt;key&gt;</code>. Give each key
        only the permissions it needs.
      </p>
      <form onSubmit={(e) => void create(e)} className="stack panel" aria-labelledby="new-key">
        <h2 id="new-key">New key</h2>
        <TextField
          id="key-name"
          label="Name"
          required
          maxLength={100}
          value={name}
          placeholder="e.g. billing service"
          onChange={setName}
        />
        <fieldset>
          <legend>Permissions</legend>
          {grantable.map((s) => (
            <label key={s.scope} className="choice">
              <input
                type="checkbox"
                value={s.scope}
                checked={scopes.includes(s.scope)}
                onChange={(e) =>
                  setScopes((list) =>
                    e.target.checked ? [...list, s.scope] : list.filter((x) => x !== s.scope),
                  )
                }
              />
              {s.label} <code>{s.scope}</code>
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={busy}>
          Create key
        </button>
      </form>
      {created ? (
        <SecretOnce label={`Your new key “${created.name}”.`} value={created.key} />
      ) : null}
      {error ? <Notice kind="error">{error}</Notice> : null}
      {message ? <Notice kind="success">{message}</Notice> : null}
      <h2>Your keys</h2>
      {keys.loading && !keys.data ? <Loading what="keys" /> : null}
      {keys.error ? <Notice kind="error">{keys.error}</Notice> : null}
      {keys.data && items.length === 0 ? <p>No keys yet.</p> : null}
      <ul className="list">
        {items.map((k) => (
          <li key={k.id} className="item" data-testid="api-key" data-key-name={k.name}>
            <div className="item-head">
              <span>
                <strong>{k.name}</strong> <code className="muted">{k.keyPrefix}…</code>
              </span>
              {k.revoked ? (
                <span className="status status-failed">revoked</span>
              ) : (
                <span className="status status-sent">active</span>
              )}
            </div>
            <p className="muted">
              {k.scopes.join(', ')} · created <Time iso={k.createdAt} /> · last used{' '}
              {k.lastUsedAt ? <Time iso={k.lastUsedAt} /> : 'never'}
            </p>
            {!k.revoked ? (
              confirming === k.id ? (
                <div className="actions" role="group" aria-label={`Revoke ${k.name}?`}>
                  <span>Revoke “{k.name}”? Applications using it stop working.</span>
                  <button type="button" className="danger" onClick={() => void revoke(k)}>
                    Yes, revoke
                  </button>
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => setConfirming(undefined)}
                  >
                    Keep it
                  </button>
                </div>
              ) : (
                <button
                  type="button"
                  className="secondary"
                  aria-label={`Revoke ${k.name}`}
                  onClick={() => setConfirming(k.id)}
                >
                  Revoke
                </button>
              )
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
