// Send an email: plain text or a template with its variables, a live preview, and the delivery
// status of each email sent from here, polled from GET /api/emails/:id until it settles.
import { useEffect, useState, type FormEvent } from 'react';
import { api, isAbort, messageOf } from '../api.ts';
import { useTitle } from '../router.tsx';
import { Notice, Time } from '../components/ui.tsx';
import { TextField } from '../components/fields.tsx';
import { TEMPLATES, TEMPLATE_NAMES, renderTemplateText, type TemplateName } from '../templates.ts';

interface HistoryEntry {
  status: string;
  at: string;
  attempt?: number;
  reason?: string;
}

interface EmailView {
  id: string;
  status: string;
  to?: string;
  subject?: string;
  attempts: number;
  sentAt?: string;
  error?: string;
  reason?: string;
  history: HistoryEntry[];
}

const SETTLED = new Set(['sent', 'failed', 'suppressed', 'cancelled']);
const POLL_MS = 1000;

type Kind = 'text' | 'template';
const KINDS: ReadonlyArray<readonly [Kind, string]> = [
  ['text', 'Plain text'],
  ['template', 'From a template'],
];

export function SendEmail() {
  useTitle('Send email');
  const [to, setTo] = useState('');
  const [subject, setSubject] = useState('');
  const [kind, setKind] = useState<Kind>('text');
  const [text, setText] = useState('');
  const [template, setTemplate] = useState<TemplateName>('welcome');
  const [variables, setVariables] = useState<Record<string, string>>({});
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState<string[]>([]);

  const preview = kind === 'text' ? text : renderTemplateText(template, variables);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const body =
      kind === 'text'
        ? { to, subject, text }
        : {
            to,
            subject,
            template,
            variables: Object.fromEntries(
              TEMPLATES[template].variables.map((v) => [v, variables[v] ?? '']),
            ),
          };
    try {
      // One key per press: a retried request (flaky network) cannot send the email twice.
      const result = await api<{ id: string }>('/api/send-email', {
        method: 'POST',
        json: body,
        headers: { 'idempotency-key': crypto.randomUUID() },
      });
      setSent((list) => [result.id, ...list]);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1 tabIndex={-1}>Send email</h1>
      <div className="two-columns">
        <form onSubmit={(e) => void submit(e)} className="stack">
          {error ? <Notice kind="error">{error}</Notice> : null}
          <TextField
            id="to"
            label="To"
            type="email"
            required
            maxLength={320}
            autoComplete="off"
            value={to}
            onChange={setTo}
          />
          <TextField
            id="subject"
            label="Subject"
            required
            maxLength={998}
            value={subject}
            onChange={(value) => setSubject(value.replace(/[\r\n]/g, ' '))}
          />
          <fieldset>
            <legend>Content</legend>
            {KINDS.map(([value, label]) => (
              <label key={value} className="choice">
                <input
                  type="radio"
                  name="kind"
                  checked={kind === value}
                  onChange={() => setKind(value)}
                />
                {label}
              </label>
            ))}
          </fieldset>
          {kind === 'text' ? (
            <>
              <label htmlFor="text">Message</label>
              <textarea
                id="text"
                rows={8}
                required
                value={text}
                onChange={(e) => setText(e.target.value)}
              />
            </>
          ) : (
            <>
              <label htmlFor="template">Template</label>
              <select
                id="template"
                value={template}
                onChange={(e) => setTemplate(e.target.value as TemplateName)}
              >
                {TEMPLATE_NAMES.map((name) => (
                  <option key={name} value={name}>
                    {TEMPLATES[name].label}
                  </option>
                ))}
              </select>
              {TEMPLATES[template].variables.map((v) => (
                <div key={`${template}-${v}`} className="stack">
                  <TextField
                    id={`var-${v}`}
                    label={v}
                    maxLength={10_000}
                    value={variables[v] ?? ''}
                    onChange={(value) => setVariables((all) => ({ ...all, [v]: value }))}
                  />
                </div>
              ))}
            </>
          )}
          <button type="submit" disabled={busy}>
            {busy ? 'Sending…' : 'Send email'}
          </button>
        </form>
        <aside className="preview" aria-labelledby="preview-heading">
          <h2 id="preview-heading">Preview</h2>
          <dl className="meta">
            <dt>To</dt>
            <dd>{to || '—'}</dd>
            <dt>Subject</dt>
            <dd>{subject || '—'}</dd>
          </dl>
          <pre className="preview-body" data-testid="preview">
            {preview || 'The message appears here as you write it.'}
          </pre>
        </aside>
      </div>
      {sent.length > 0 ? (
        <section aria-labelledby="sent-heading">
          <h2 id="sent-heading">Sent from here</h2>
          <ul className="list">
            {sent.map((id) => (
              <EmailStatus key={id} id={id} />
            ))}
          </ul>
        </section>
      ) : null}
    </section>
  );
}

/** One email's status, polled until it is sent or has failed for good. */
function EmailStatus({ id }: { id: string }) {
  const [view, setView] = useState<EmailView>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const next = await api<EmailView>(`/api/emails/${id}`, { signal: abort.signal });
        setView(next);
        setError(undefined);
        if (SETTLED.has(next.status)) return;
      } catch (err) {
        if (isAbort(err)) return;
        setError(messageOf(err));
      }
      timer = setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [id]);

  const status = view?.status ?? 'queued';
  const last = view?.history.at(-1);
  return (
    <li className="item" data-testid="email-status" data-email-id={id}>
      <div className="item-head">
        <span>
          {view?.subject ?? 'Email'} <span className="muted">to {view?.to ?? '…'}</span>
        </span>
        <span className={`status status-${status}`} aria-live="polite">
          {status}
        </span>
      </div>
      {error ? <Notice kind="error">{error}</Notice> : null}
      {view && (status === 'failed' || status === 'suppressed') && last?.reason ? (
        <p className="muted">Reason: {last.reason}</p>
      ) : null}
      {view?.history.length ? (
        <ol className="history">
          {view.history.map((h, i) => (
            <li key={i}>
              {h.status}
              {h.attempt !== undefined ? ` (attempt ${h.attempt})` : ''} · <Time iso={h.at} />
            </li>
          ))}
        </ol>
      ) : null}
    </li>
  );
}
