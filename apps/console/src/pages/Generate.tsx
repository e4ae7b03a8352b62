// Generate content: the text appears as the model writes it (Server-Sent Events over fetch), with a
// cancel button that stops the generation on the worker (DELETE /api/generations/:id).
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, errorFrom, isAbort, messageOf, sseParser } from '../api.ts';
import { useTitle } from '../router.tsx';
import { TextField } from '../components/fields.tsx';
import { Notice } from '../components/ui.tsx';

interface Usage {
  promptTokens?: number;
  completionTokens?: number;
  totalTokens?: number;
}

type Phase = 'idle' | 'starting' | 'streaming' | 'cancelling' | 'done' | 'cancelled' | 'failed';

export function Generate() {
  useTitle('Generate');
  const [prompt, setPrompt] = useState('');
  const [maxTokens, setMaxTokens] = useState(256);
  const [text, setText] = useState('');
  const [phase, setPhase] = useState<Phase>('idle');
  const [error, setError] = useState<string>();
  const [usage, setUsage] = useState<Usage>();
  const generationId = useRef<string | undefined>(undefined);
  const [activeId, setActiveId] = useState<string>();
  const abort = useRef<AbortController | undefined>(undefined);

  // Leaving the page stops reading; the generation itself runs on and stays readable by id.
  useEffect(() => () => abort.current?.abort(), []);

  const run = async (e: FormEvent) => {
    e.preventDefault();
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    generationId.current = undefined;
    setActiveId(undefined);
    setText('');
    setUsage(undefined);
    setError(undefined);
    setPhase('starting');
    try {
      let response = await fetch('/api/generate-content', {
        method: 'POST',
        headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
        body: JSON.stringify({ prompt, maxTokens }),
        credentials: 'same-origin',
        signal: controller.signal,
      });
      if (!response.ok) throw await errorFrom(response, '/api/generate-content');
      // Streaming could not start on the gateway (it answered 202): follow the generation's stream.
      if (!(response.headers.get('content-type') ?? '').includes('text/event-stream')) {
        const { id } = (await response.json()) as { id: string };
        generationId.current = id;
        setActiveId(id);
        response = await fetch(`/api/generations/${id}/stream`, {
          headers: { accept: 'text/event-stream' },
          credentials: 'same-origin',
          signal: controller.signal,
        });
        if (!response.ok) throw await errorFrom(response, `/api/generations/${id}/stream`);
      }
      setPhase('streaming');
      await readEvents(response, controller.signal);
    } catch (err) {
      if (isAbort(err)) return;
      setError(messageOf(err));
      setPhase('failed');
    }
  };

  const readEvents = async (response: Response, signal: AbortSignal) => {
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const parser = sseParser();
    signal.addEventListener('abort', () => void reader.cancel().catch(() => undefined));
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const event of parser.push(value)) {
        const data = JSON.parse(event.data) as {
          id?: string;
          text?: string;
          code?: string;
          message?: string;
          usage?: Usage;
        };
        switch (event.event) {
          case 'queued':
            generationId.current = data.id;
            setActiveId(data.id);
            break;
          case 'chunk':
            setText((t) => t + (data.text ?? ''));
            break;
          case 'reset':
            // A retried attempt starts over: drop what the failed one wrote.
            setText('');
            break;
          case 'done':
            setUsage(data.usage);
            setPhase('done');
            return;
          case 'error':
            if (data.code === 'CANCELLED') setPhase('cancelled');
            else {
              setError(`The generation failed: ${data.message ?? 'unknown error'}.`);
              setPhase('failed');
            }
            return;
        }
      }
    }
    // The connection ended without a final event (the gateway restarted): say so.
    setPhase((p) => (p === 'streaming' || p === 'cancelling' ? 'failed' : p));
    setError((e) => e ?? 'The stream was interrupted. The generation may still finish.');
  };

  const cancel = async () => {
    const id = generationId.current;
    if (!id) return;
    setPhase('cancelling');
    try {
      await api(`/api/generations/${id}`, { method: 'DELETE' });
      // The stream ends with a CANCELLED error event, which sets the final phase.
    } catch (err) {
      setError(messageOf(err));
    }
  };

  const running = phase === 'starting' || phase === 'streaming' || phase === 'cancelling';
  const statusText: Record<Phase, string> = {
    idle: '',
    starting: 'Starting…',
    streaming: 'Writing…',
    cancelling: 'Cancelling…',
    done: 'Done.',
    cancelled: 'Cancelled.',
    failed: 'Stopped.',
  };

  return (
    <section>
      <h1 tabIndex={-1}>Generate content</h1>
      <form onSubmit={(e) => void run(e)} className="stack">
        <label htmlFor="prompt">Prompt</label>
        <textarea
          id="prompt"
          rows={5}
          required
          maxLength={32_000}
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
        />
        <TextField
          id="max-tokens"
          label="Longest answer (tokens)"
          type="number"
          min={1}
          max={4096}
          value={String(maxTokens)}
          onChange={(value) => setMaxTokens(Number(value))}
        />
        <div className="actions">
          <button type="submit" disabled={running}>
            Generate
          </button>
          <button
            type="button"
            className="danger"
            disabled={!running || phase === 'cancelling' || !activeId}
            onClick={() => void cancel()}
          >
            Cancel
          </button>
        </div>
      </form>
      {error ? <Notice kind="error">{error}</Notice> : null}
      <section aria-labelledby="output-heading" className="output">
        <div className="item-head">
          <h2 id="output-heading">Output</h2>
          <span role="status" data-testid="generation-status" data-phase={phase}>
            {statusText[phase]}
          </span>
        </div>
        <div className="generated" data-testid="generated" aria-busy={running}>
          {text || <span className="muted">The answer appears here as it is written.</span>}
        </div>
        {usage ? (
          <p className="muted">
            {usage.promptTokens ?? 0} prompt tokens, {usage.completionTokens ?? 0} completion
            tokens.
          </p>
        ) : null}
      </section>
    </section>
  );
}
