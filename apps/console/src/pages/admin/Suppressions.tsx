// The suppression list (admins): addresses SecureVault will not send to, with why; add or remove.
import { useState, type FormEvent } from 'react';
import { api } from '../../api.ts';
import { useTitle } from '../../router.tsx';
import { Loading, Notice, Time, useLoad } from '../../components/ui.tsx';
import { DataTable, TextField } from '../../components/fields.tsx';
import { useAction } from '../../hooks/useAction.ts';

interface Suppression {
  address: string;
  reason?: string;
  source?: string;
  at?: string;
}

export function Suppressions() {
  useTitle('Suppressions');
  const list = useLoad(
    (signal) => api<{ items: Suppression[] }>('/api/admin/suppressions', { signal }),
    'suppressions',
  );
  const [address, setAddress] = useState('');
  const [reason, setReason] = useState('');
  const action = useAction();

  const add = async (e: FormEvent) => {
    e.preventDefault();
    await action.run(async () => {
      await api('/api/admin/suppressions', {
        method: 'POST',
        json: { address, ...(reason.trim() ? { reason: reason.trim() } : {}) },
      });
      setAddress('');
      setReason('');
      list.reload();
    });
  };

  const remove = (s: Suppression) =>
    action.run(async () => {
      await api(`/api/admin/suppressions/${encodeURIComponent(s.address)}`, { method: 'DELETE' });
      list.reload();
    });

  const items = list.data?.items ?? [];
  return (
    <section>
      <h1 tabIndex={-1}>Suppression list</h1>
      <p className="muted">
        Addresses that bounced permanently, or that an admin added. Emails to them fail at once.
      </p>
      <form className="stack panel" onSubmit={(e) => void add(e)} aria-labelledby="supp-h">
        <h2 id="supp-h">Suppress an address</h2>
        <TextField
          id="supp-address"
          label="Address"
          type="email"
          required
          maxLength={320}
          value={address}
          onChange={setAddress}
        />
        <TextField
          id="supp-reason"
          label="Reason (optional)"
          maxLength={500}
          value={reason}
          onChange={setReason}
        />
        <button type="submit">Add</button>
      </form>
      {action.error ? <Notice kind="error">{action.error}</Notice> : null}
      {list.loading && !list.data ? <Loading what="the list" /> : null}
      {list.error ? <Notice kind="error">{list.error}</Notice> : null}
      {list.data && items.length === 0 ? <p>No address is suppressed.</p> : null}
      {items.length > 0 ? (
        <DataTable columns={['Address', 'Reason', 'Since', { label: 'Actions', hidden: true }]}>
          {items.map((s) => (
            <tr key={s.address}>
              <td className="break">{s.address}</td>
              <td>
                {s.reason ?? '—'} {s.source ? <span className="muted">({s.source})</span> : null}
              </td>
              <td>
                <Time iso={s.at} />
              </td>
              <td>
                <button
                  type="button"
                  className="secondary"
                  aria-label={`Remove ${s.address}`}
                  onClick={() => void remove(s)}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}
    </section>
  );
}
