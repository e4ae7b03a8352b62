// Deep redaction of secrets in anything about to be logged; never mutates its input.

export const REDACTED = '[REDACTED]';

// Keys compared after lower-casing and dropping '-' and '_' (so x-api-key, api_key, apiKey all match).
const EXACT = new Set([
  'pass',
  'passwd',
  'passphrase',
  'cookie',
  'cookies',
  'setcookie',
  'authorization',
  'proxyauthorization',
  'privatekey',
  'credentials',
]);
const SUFFIXES = ['password', 'secret', 'token', 'apikey'];

export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return EXACT.has(k) || SUFFIXES.some((s) => k.endsWith(s));
}

// Secrets that show up inside free text: our API keys, bearer credentials, URL userinfo.
const VALUE_PATTERNS: Array<[RegExp, string]> = [
  [/\bsvk_[A-Za-z0-9_-]{8,}/g, 'svk_' + REDACTED],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 ' + REDACTED],
  // From `://` on, whatever the scheme: starting at the scheme made the regex retry every position
  // of a long run like `a-a-a-…` (quadratic); `://` is a literal, so each try is short.
  [/(:\/\/[^:/\s@]*:)[^@/\s]+@/g, '$1' + REDACTED + '@'],
];

export function redactString(value: string): string {
  let out = value;
  for (const [re, replacement] of VALUE_PATTERNS) out = out.replace(re, replacement);
  return out;
}

const MAX_DEPTH = 12;

/** Returns a copy of `value` with secret-named fields replaced and secret-looking strings masked. */
export function redact<T>(value: T): T {
  return walk(value, 0, new WeakSet()) as T;
}

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[Truncated]';
  if (seen.has(value)) return '[Circular]';
  if (value instanceof Date || Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen));
    const out: Record<string, unknown> = {};
    const source =
      value instanceof Error
        ? { ...value, type: value.name, message: value.message, stack: value.stack }
        : value;
    for (const [k, v] of Object.entries(source)) {
      out[k] = isSecretKey(k) ? REDACTED : walk(v, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
