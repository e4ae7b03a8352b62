// The email templates as the email-worker renders them, for the send page's preview. The worker
// (services/email-worker/src/templates.ts) is the source of truth; apps/console/test/templates.test.ts
// fails when the two differ.

export const TEMPLATE_NAMES = ['welcome', 'notification', 'password-reset'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

interface Template {
  label: string;
  /** the variables the template uses, in the order the form asks for them */
  variables: string[];
  text: string;
}

export const TEMPLATES: Record<TemplateName, Template> = {
  welcome: {
    label: 'Welcome',
    variables: ['name', 'product'],
    text: 'Hello {{name}},\n\nWelcome to {{product}}. Your account is ready.\n',
  },
  notification: {
    label: 'Notification',
    variables: ['title', 'body'],
    text: '{{title}}\n\n{{body}}\n',
  },
  'password-reset': {
    label: 'Password reset',
    variables: ['name', 'link'],
    text: 'Hello {{name}},\n\nReset your password here: {{link}}\nIf you did not ask for this, ignore this message.\n',
  },
};

/** The text part the worker will send; a variable not given renders empty, as in the worker. */
export function renderTemplateText(name: TemplateName, variables: Record<string, string>): string {
  return TEMPLATES[name].text.replace(/\{\{(\w+)\}\}/g, (_m, key: string) => variables[key] ?? '');
}
