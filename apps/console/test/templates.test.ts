// The send page previews templates as the email-worker renders them: this fails when they drift.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderBody } from '../../../services/email-worker/src/templates.ts';
import { TEMPLATES, TEMPLATE_NAMES, renderTemplateText } from '../src/templates.ts';

describe('template preview', () => {
  it('renders every template exactly as the worker sends its text part', () => {
    for (const name of TEMPLATE_NAMES) {
      const variables = Object.fromEntries(
        TEMPLATES[name].variables.map((v, i) => [v, `value-${i} <b>&</b>`]),
      );
      const worker = renderBody({
        id: '00000000-0000-4000-8000-000000000000',
        ownerId: '00000000-0000-4000-8000-000000000001',
        requestId: 'r',
        to: 'a@example.com',
        subject: 's',
        template: name,
        variables,
        queuedAt: new Date().toISOString(),
      });
      assert.equal(renderTemplateText(name, variables), worker.text, name);
      // The form asks for every variable the template uses, and no other.
      const used = [...new Set([...(worker.html ?? '').matchAll(/value-(\d+)/g)].map((m) => m[1]))];
      assert.equal(used.length, TEMPLATES[name].variables.length, name);
    }
  });
});
