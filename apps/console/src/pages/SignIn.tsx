// Sign in and register: the gateway relays both to auth, which sets the __Host- session cookie.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, messageOf } from '../api.ts';
import { Link, useTitle } from '../router.tsx';
import { Notice } from '../components/ui.tsx';
import { TextField } from '../components/fields.tsx';

interface Props {
  mode: 'signin' | 'register';
  notice?: string;
  onSignedIn: () => void;
}

export function SignIn({ mode, notice, onSignedIn }: Props) {
  useTitle(mode === 'register' ? 'Create an account' : 'Sign in');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    setError(undefined);
    heading.current?.focus();
  }, [mode]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      if (mode === 'register') {
        await api('/api/auth/register', { method: 'POST', json: { email, password } });
      }
      await api('/api/auth/login', { method: 'POST', json: { email, password } });
      onSignedIn();
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };

  return (
    <main id="main" className="auth-page">
      <div className="auth-card">
        <p className="brand">SecureVault</p>
        <h1 ref={heading} tabIndex={-1}>
          {mode === 'register' ? 'Create an account' : 'Sign in'}
        </h1>
        {notice && !error ? <Notice kind="info">{notice}</Notice> : null}
        {error ? <Notice kind="error">{error}</Notice> : null}
        <form onSubmit={(e) => void submit(e)} noValidate={false}>
          <TextField
            id="email"
            label="Email"
            type="email"
            autoComplete="email"
            required
            maxLength={254}
            value={email}
            onChange={setEmail}
          />
          <TextField
            id="password"
            label="Password"
            type="password"
            autoComplete={mode === 'register' ? 'new-password' : 'current-password'}
            required
            minLength={mode === 'register' ? 8 : 1}
            maxLength={128}
            aria-describedby={mode === 'register' ? 'password-hint' : undefined}
            value={password}
            onChange={setPassword}
          />
          {mode === 'register' ? (
            <p id="password-hint" className="hint">
              At least 8 characters, and not a commonly used password.
            </p>
          ) : null}
          <button type="submit" disabled={busy}>
            {busy ? 'Please wait…' : mode === 'register' ? 'Create account' : 'Sign in'}
          </button>
        </form>
        <p className="switch">
          {mode === 'register' ? (
            <>
              Already have an account? <Link to="/signin">Sign in</Link>
            </>
          ) : (
            <>
              New here? <Link to="/register">Create an account</Link>
            </>
          )}
        </p>
      </div>
    </main>
  );
}
