// The console's shell: who is signed in, the navigation, and which page the path shows.
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError, SESSION_EXPIRED_EVENT, api, messageOf } from './api.ts';
import { Link, navigate, usePath } from './router.tsx';
import { SessionContext, hasScope, isAdmin, type Me } from './session.ts';
import { Loading, Notice } from './components/ui.tsx';
import { SignIn } from './pages/SignIn.tsx';
import { Dashboard } from './pages/Dashboard.tsx';
import { SendEmail } from './pages/SendEmail.tsx';
import { Generate } from './pages/Generate.tsx';
import { Audit } from './pages/Audit.tsx';
import { Alerts } from './pages/Alerts.tsx';
import { ApiKeys } from './pages/ApiKeys.tsx';
import { Webhooks } from './pages/Webhooks.tsx';
import { Users } from './pages/admin/Users.tsx';
import { Suppressions } from './pages/admin/Suppressions.tsx';
import { FailedJobs } from './pages/admin/FailedJobs.tsx';

interface Page {
  path: string;
  label: string;
  render: () => ReactNode;
  /** shown when the signed-in principal may use it */
  allowed: (me: Me) => boolean;
  admin?: boolean;
}

const PAGES: Page[] = [
  { path: '/', label: 'Dashboard', render: () => <Dashboard />, allowed: () => true },
  {
    path: '/send',
    label: 'Send email',
    render: () => <SendEmail />,
    allowed: (me) => hasScope(me, 'email:send'),
  },
  {
    path: '/generate',
    label: 'Generate',
    render: () => <Generate />,
    allowed: (me) => hasScope(me, 'ai:generate'),
  },
  {
    path: '/audit',
    label: 'Audit log',
    render: () => <Audit />,
    allowed: (me) => hasScope(me, 'audit:read'),
  },
  {
    path: '/alerts',
    label: 'Security alerts',
    render: () => <Alerts />,
    allowed: (me) => hasScope(me, 'audit:read'),
  },
  { path: '/api-keys', label: 'API keys', render: () => <ApiKeys />, allowed: () => true },
  {
    path: '/webhooks',
    label: 'Webhooks',
    render: () => <Webhooks />,
    allowed: (me) => hasScope(me, 'email:send'),
  },
  { path: '/admin/users', label: 'Users', render: () => <Users />, allowed: isAdmin, admin: true },
  {
    path: '/admin/suppressions',
    label: 'Suppressions',
    render: () => <Suppressions />,
    allowed: isAdmin,
    admin: true,
  },
  {
    path: '/admin/failed',
    label: 'Failed jobs',
    render: () => <FailedJobs />,
    allowed: isAdmin,
    admin: true,
  },
];

type Session =
  | { state: 'loading' }
  | { state: 'signed-out'; notice?: string }
  | { state: 'signed-in'; me: Me }
  | { state: 'error'; message: string };

export function App() {
  const path = usePath();
  const [session, setSession] = useState<Session>({ state: 'loading' });

  const loadMe = useCallback(async () => {
    try {
      const me = await api<Me>('/api/auth/me');
      setSession({ state: 'signed-in', me });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setSession({ state: 'signed-out' });
      else setSession({ state: 'error', message: messageOf(err) });
    }
  }, []);

  useEffect(() => {
    void loadMe();
  }, [loadMe]);

  useEffect(() => {
    const expired = () =>
      setSession((s) =>
        s.state === 'signed-in'
          ? { state: 'signed-out', notice: 'Your session has expired, sign in again.' }
          : s,
      );
    window.addEventListener(SESSION_EXPIRED_EVENT, expired);
    return () => window.removeEventListener(SESSION_EXPIRED_EVENT, expired);
  }, []);

  if (session.state === 'loading') {
    return (
      <main id="main" className="centered">
        <Loading what="SecureVault" />
      </main>
    );
  }
  if (session.state === 'error') {
    return (
      <main id="main" className="centered">
        <h1>SecureVault</h1>
        <Notice kind="error">{session.message}</Notice>
        <button type="button" onClick={() => void loadMe()}>
          Try again
        </button>
      </main>
    );
  }
  if (session.state === 'signed-out') {
    return (
      <SignIn
        mode={path === '/register' ? 'register' : 'signin'}
        {...(session.notice ? { notice: session.notice } : {})}
        onSignedIn={() => {
          void loadMe().then(() => {
            if (path === '/signin' || path === '/register') navigate('/', { replace: true });
          });
        }}
      />
    );
  }
  return (
    <SessionContext.Provider value={session.me}>
      <Shell
        me={session.me}
        path={path}
        onSignedOut={() => {
          setSession({ state: 'signed-out' });
          navigate('/signin');
        }}
      />
    </SessionContext.Provider>
  );
}

function Shell({ me, path, onSignedOut }: { me: Me; path: string; onSignedOut: () => void }) {
  const [menuOpen, setMenuOpen] = useState(false);
  const [signOutError, setSignOutError] = useState<string>();
  const main = useRef<HTMLElement>(null);
  const pages = PAGES.filter((p) => p.allowed(me));
  const current =
    path === '/signin' || path === '/register'
      ? pages[0]
      : PAGES.find((p) => p.path === path && p.allowed(me));

  // On a page change, move focus to the new page's heading so screen readers announce it.
  const first = useRef(true);
  useEffect(() => {
    setMenuOpen(false);
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [path]);

  useEffect(() => {
    if (path === '/signin' || path === '/register') navigate('/', { replace: true });
  }, [path]);

  const signOut = async () => {
    try {
      await api('/api/auth/logout', { method: 'POST' });
      onSignedOut();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) onSignedOut();
      else setSignOutError(messageOf(err));
    }
  };

  const nav = (admin: boolean) =>
    pages
      .filter((p) => Boolean(p.admin) === admin)
      .map((p) => (
        <li key={p.path}>
          <Link to={p.path} aria-current={p.path === current?.path ? 'page' : undefined}>
            {p.label}
          </Link>
        </li>
      ));

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          SecureVault
        </Link>
        <button
          type="button"
          className="menu-button"
          aria-expanded={menuOpen}
          aria-controls="site-nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          Menu
        </button>
        <div className="account">
          <span className="who" title={me.user.email}>
            {me.user.email}
            {me.user.role === 'admin' ? <span className="badge">admin</span> : null}
          </span>
          <button type="button" className="secondary" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <div className="layout">
        <nav id="site-nav" aria-label="Main" className={menuOpen ? 'open' : undefined}>
          <ul>{nav(false)}</ul>
          {isAdmin(me) ? (
            <>
              <h2 className="nav-heading">Administration</h2>
              <ul>
                {nav(true)}
                <li>
                  <a href="/api/admin/queues" target="_blank" rel="noopener noreferrer">
                    Queue dashboard<span className="visually-hidden"> (opens in a new tab)</span>
                  </a>
                </li>
              </ul>
            </>
          ) : null}
        </nav>
        <main id="main" ref={main} tabIndex={-1}>
          {signOutError ? <Notice kind="error">{signOutError}</Notice> : null}
          {current ? current.render() : <NotFound />}
        </main>
      </div>
    </>
  );
}

function NotFound() {
  return (
    <section>
      <h1 tabIndex={-1}>Page not found</h1>
      <p>
        There is no page here, or your account may not use it.{' '}
        <Link to="/">Go to the dashboard</Link>.
      </p>
    </section>
  );
}
