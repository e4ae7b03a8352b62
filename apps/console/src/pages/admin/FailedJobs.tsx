// Failed emails (admins): the email queue's failed jobs, newest first (GET /api/admin/emails/failed),
// each with Replay (POST /api/admin/emails/:id/retry); the queue dashboard has everything else.
import { useState } from 'react';
import { api, messageOf } from '../../api.ts';
import { useTitle } from '../../router.tsx';
import { Notice, Time } from '../../components/ui.tsx';
import { LoadMore } from '../../components/LoadMore.tsx';
import { useCursorList, type CursorPage } from '../../hooks/useCursorList.ts';

interface FailedEmail {
  id: string;
  /** masked by the gateway: j***@example.com */
  to: string;
  subject: string;
  failedReason: string;
  attemptsMade: number;
  failedAt: string | null;
}

const PAGE_SIZE = 20;

export function FailedJobs() {
  useTitle('Failed jobs');
  const [results, setResults] = useState<Record<string, { ok: boolean; text: string }>>({});
  const failed = useCursorList<FailedEmail>(
    (cursor, signal) => {
      const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (cursor) q.set('cursor', cursor);
      return api<CursorPage<FailedEmail>>(`/api/admin/emails/failed?${q.toString()}`, { signal });
    },
    'failed',
    (job) => job.id,
  );

  const replay = async (id: string) => {
    try {
      await api(`/api/admin/emails/${id}/retry`, { method: 'POST' });
      setResults((r) => ({ ...r, [id]: { ok: true, text: 'Queued again.' } }));
    } catch (err) {
      setResults((r) => ({ ...r, [id]: { ok: false, text: messageOf(err) } }));
    }
  };

  return (
    <section>
      <h1 tabIndex={-1}>Failed jobs</h1>
      <p>
        Emails that failed for good, newest first. Replaying starts a fresh round of attempts; an
        email already delivered is never sent twice. Every queue, its failed jobs and their errors
        are in the{' '}
        <a href="/api/admin/queues" target="_blank" rel="noopener noreferrer">
          queue dashboard<span className="visually-hidden"> (opens in a new tab)</span>
        </a>
        .
      </p>
      {failed.error ? <Notice kind="error">{failed.error}</Notice> : null}
      {failed.done && failed.items.length === 0 && !failed.error ? (
        <Notice kind="success">No failed emails.</Notice>
      ) : null}
      <ul className="list">
        {failed.items.map((job) => {
          const result = results[job.id];
          return (
            <li key={job.id} className="item" data-testid="failed-email">
              <div className="item-head">
                <strong className="break">{job.subject || '(no subject)'}</strong>
                <Time iso={job.failedAt} />
              </div>
              <p className="muted">
                To {job.to} · {job.attemptsMade} attempt{job.attemptsMade === 1 ? '' : 's'} ·{' '}
                <code>{job.id}</code>
              </p>
              {job.failedReason ? <p className="break">Reason: {job.failedReason}</p> : null}
              <div className="actions">
                <button
                  type="button"
                  className="secondary"
                  disabled={result?.ok === true}
                  aria-label={`Replay the email ${job.subject} to ${job.to}`}
                  onClick={() => void replay(job.id)}
                >
                  Replay
                </button>
                {result ? (
                  <span role="status" className={result.ok ? 'ok' : 'error-text'}>
                    {result.text}
                  </span>
                ) : null}
              </div>
            </li>
          );
        })}
      </ul>
      <LoadMore list={failed} what="failed emails" />
    </section>
  );
}
