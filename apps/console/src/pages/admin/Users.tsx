// Users and roles (admins): the accounts, newest first, found by the beginning of their email; change
// a role, disable or enable an account (GET /api/auth/users, PATCH …/role and …/status).
import { useState, type FormEvent } from 'react';
import { api } from '../../api.ts';
import { useTitle } from '../../router.tsx';
import { useMe } from '../../session.ts';
import { Notice, Time } from '../../components/ui.tsx';
import { TextField } from '../../components/fields.tsx';
import { LoadMore } from '../../components/LoadMore.tsx';
import { useAction } from '../../hooks/useAction.ts';
import { useCursorList, type CursorPage } from '../../hooks/useCursorList.ts';

type Role = 'member' | 'admin';

export interface Account {
  id: string;
  email: string;
  role: Role;
  createdAt: string;
  disabled: boolean;
}

const PAGE_SIZE = 25;

export function Users() {
  useTitle('Users');
  const me = useMe();
  const [draft, setDraft] = useState('');
  // A fresh object on every search, so searching again reads the list again.
  const [query, setQuery] = useState({ prefix: '' });
  const { prefix } = query;
  const [message, setMessage] = useState<string>();
  const action = useAction();
  const list = useCursorList<Account>(
    (cursor, signal) => {
      const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (prefix) q.set('email', prefix);
      if (cursor) q.set('cursor', cursor);
      return api<CursorPage<Account>>(`/api/auth/users?${q.toString()}`, { signal });
    },
    query,
    (u) => u.id,
  );

  const search = (e: FormEvent) => {
    e.preventDefault();
    setMessage(undefined);
    setQuery({ prefix: draft.trim().toLowerCase() });
  };

  const change = async (account: Account, what: { role: Role } | { disabled: boolean }) => {
    setMessage(undefined);
    const path = `/api/auth/users/${account.id}/${'role' in what ? 'role' : 'status'}`;
    await action.run(async () => {
      const { user } = await api<{ user: Partial<Account> & { id: string } }>(path, {
        method: 'PATCH',
        json: what,
      });
      const changed = { ...account, ...user, ...what };
      list.update((items) => items.map((u) => (u.id === changed.id ? changed : u)));
      setMessage(
        'role' in what
          ? `${changed.email} is now ${changed.role === 'admin' ? 'an admin' : 'a member'}; their sessions ended, so they sign in again.`
          : `${changed.email} is ${changed.disabled ? 'disabled: every session and key stopped working' : 'enabled again'}.`,
      );
    });
  };

  return (
    <section>
      <h1 tabIndex={-1}>Users and roles</h1>
      <form role="search" className="filters" onSubmit={search} aria-label="Find users">
        <div>
          <TextField
            id="user-search"
            label="Email (or its beginning)"
            type="search"
            maxLength={254}
            autoComplete="off"
            value={draft}
            onChange={setDraft}
          />
        </div>
        <div className="actions">
          <button type="submit">Search</button>
        </div>
      </form>
      {action.error ? <Notice kind="error">{action.error}</Notice> : null}
      {message ? <Notice kind="success">{message}</Notice> : null}
      {list.error ? <Notice kind="error">{list.error}</Notice> : null}
      <p className="muted" id="users-count">
        {list.items.length} account{list.items.length === 1 ? '' : 's'} shown
        {prefix ? ` starting with “${prefix}”` : ''}, newest first.
      </p>
      <ul className="list" aria-describedby="users-count">
        {list.items.map((u) => (
          <UserRow
            key={u.id}
            account={u}
            self={u.id === me.user.id}
            onChange={(what) => void change(u, what)}
          />
        ))}
      </ul>
      {list.done && list.items.length === 0 && !list.error ? (
        <p>No account matches this search.</p>
      ) : null}
      <LoadMore list={list} what="accounts" />
    </section>
  );
}

function UserRow({
  account,
  self,
  onChange,
}: {
  account: Account;
  self: boolean;
  onChange: (what: { role: Role } | { disabled: boolean }) => void;
}) {
  const [role, setRole] = useState<Role>(account.role);
  const selectId = `role-${account.id}`;
  return (
    <li className="item" data-testid="user-row" data-email={account.email}>
      <div className="item-head">
        <strong className="break">{account.email}</strong>
        {self ? <span className="badge">you</span> : null}
      </div>
      <p className="muted">
        {account.role === 'admin' ? 'Admin' : 'Member'} ·{' '}
        <span className={`status status-${account.disabled ? 'failed' : 'sent'}`}>
          {account.disabled ? 'disabled' : 'active'}
        </span>{' '}
        · joined <Time iso={account.createdAt} />
      </p>
      <div className="actions">
        <label htmlFor={selectId} className="inline">
          Role <span className="visually-hidden">of {account.email}</span>
        </label>
        <select id={selectId} value={role} onChange={(e) => setRole(e.target.value as Role)}>
          <option value="member">Member</option>
          <option value="admin">Admin</option>
        </select>
        <button
          type="button"
          disabled={role === account.role}
          onClick={() => onChange({ role })}
          aria-label={`Save the role of ${account.email}`}
        >
          Save role
        </button>
        {account.disabled ? (
          <button
            type="button"
            className="secondary"
            onClick={() => onChange({ disabled: false })}
            aria-label={`Enable ${account.email}`}
          >
            Enable
          </button>
        ) : (
          <button
            type="button"
            className="danger"
            disabled={self}
            onClick={() => onChange({ disabled: true })}
            aria-label={`Disable ${account.email}`}
          >
            Disable
          </button>
        )}
      </div>
    </li>
  );
}
