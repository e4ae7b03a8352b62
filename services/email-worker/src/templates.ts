// Named email templates: text and HTML parts with {{variables}}, escaped in HTML so input cannot inject markup.
import type { EmailJob } from '@securevault/contracts';

interface Template {
  text: string;
  html: string;
}

const TEMPLATES: Record<NonNullable<EmailJob['template']>, Template> = {
  welcome: {
    text: 'Hello {{name}},\n\nWelcome to {{product}}. Your account is ready.\n',
    html: '<p>Hello {{name}},</p><p>Welcome to {{product}}. Your account is ready.</p>',
  },
  notification: {
    text: '{{title}}\n\n{{body}}\n',
    html: '<h1>{{title}}</h1><p>{{body}}</p>',
  },
  'password-reset': {
    text: 'Hello {{name}},\n\nReset your password here: {{link}}\nIf you did not ask for this, ignore this message.\n',
    html: '<p>Hello {{name}},</p><p><a href="{{link}}">Reset your password</a></p><p>If you did not ask for this, ignore this message.</p>',
  },
};

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function fill(source: string, variables: Record<string, string>, escape: boolean): string {
  // A variable the caller did not give renders empty rather than leaking the placeholder.
  return source.replace(/\{\{(\w+)\}\}/g, (_m, name: string) => {
    const value = variables[name] ?? '';
    return escape ? escapeHtml(value) : value;
  });
}

/** The text and HTML parts of a job: its template rendered, or its own text/html. */
export function renderBody(job: EmailJob): { text?: string; html?: string } {
  if (job.template === undefined) {
    return {
      ...(job.text !== undefined ? { text: job.text } : {}),
      ...(job.html !== undefined ? { html: job.html } : {}),
    };
  }
  const template = TEMPLATES[job.template];
  const variables = job.variables ?? {};
  return {
    text: fill(template.text, variables, false),
    html: fill(template.html, variables, true),
  };
}
