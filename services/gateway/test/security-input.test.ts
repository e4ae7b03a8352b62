// Input hardening at the gateway: body size, content type, unknown fields, SMTP header injection,
// addresses, prompt size; nothing reaches a queue. Real: the gateway app, Redis and BullMQ queues.
// Stand-in: auth (the helpers' token table).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  asA,
  call,
  codeOf,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';

describe('input hardening', () => {
  let auth: Standin;
  let gw: Gateway;

  before(async () => {
    auth = await startAuthStandin();
    gw = await startGateway({ AUTH_URL: auth.url, BODY_LIMIT: '64kb' });
  });
  after(async () => {
    await gw.close();
    await auth.close();
  });

  const send = (json: unknown) =>
    call(`${gw.url}/api/send-email`, { method: 'POST', headers: asA, json });
  const good = { to: 'r@example.com', subject: 'hello', text: 't' };

  it('413 for an oversized body, 415 for a non-JSON body', async () => {
    const big = await send({ ...good, text: 'x'.repeat(70_000) });
    assert.equal(big.status, 413);
    assert.equal(codeOf(big), 'PAYLOAD_TOO_LARGE');
    const form = await call(`${gw.url}/api/send-email`, {
      method: 'POST',
      headers: { ...asA, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'to=r@example.com&subject=x',
    });
    assert.equal(form.status, 415);
    assert.equal(codeOf(form), 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('rejects unknown fields, CR/LF in header fields and invalid addresses; queues nothing', async () => {
    const before = await gw.emailQueue.count();
    const bad: Array<[string, unknown]> = [
      ['unknown field', { ...good, bcc: 'x@example.com' }],
      ['CRLF in subject', { ...good, subject: 'hi\r\nBcc: victim@example.com' }],
      ['LF in subject', { ...good, subject: 'hi\nBcc: victim@example.com' }],
      ['CRLF in to', { ...good, to: 'r@example.com\r\nBcc: victim@example.com' }],
      ['invalid address', { ...good, to: 'not an address' }],
      ['two addresses', { ...good, to: 'a@example.com, b@example.com' }],
      [
        'CRLF in attachment name',
        {
          ...good,
          attachments: [
            {
              filename: 'a\r\nContent-Type: text/html',
              contentType: 'text/plain',
              contentBase64: 'eA==',
            },
          ],
        },
      ],
    ];
    for (const [what, json] of bad) {
      const r = await send(json);
      assert.equal(r.status, 400, what);
      assert.equal(codeOf(r), 'VALIDATION_FAILED', what);
    }
    assert.equal(await gw.emailQueue.count(), before);
  });

  it('caps the prompt size', async () => {
    const before = await gw.aiQueue.count();
    const r = await call(`${gw.url}/api/generate-content`, {
      method: 'POST',
      headers: asA,
      json: { prompt: 'p'.repeat(32_001) },
    });
    assert.equal(r.status, 400);
    assert.equal(codeOf(r), 'VALIDATION_FAILED');
    assert.equal(await gw.aiQueue.count(), before);
  });
});
