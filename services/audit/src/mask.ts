// PII and secret masking applied to every audit event before it is stored, whatever the producer sent.
import { maskEmails, type AuditEvent } from '@securevault/contracts';

/** Deeper structures are cut here: an audit record is not a place for arbitrary documents. */
export const MAX_DEPTH = 8;
export const MAX_STRING = 4096;
export const MAX_ARRAY = 500;
export const TRUNCATED = '[truncated]';

// Credentials that travel inside free text rather than under a key of their own.
const AUTH_SCHEME = /\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{4,}/gi;
const QUERY_SECRET =
  /([?&;](?:password|passwd|pwd|token|access_token|refresh_token|id_token|secret|client_secret|api_?key|key|code|signature|sig)=)[^&\s#]+/gi;

// Tokens that look numeric but are not PII: UUIDs, ISO dates and times, IPv4 addresses.
const PROTECTED =
  /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?|(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?!\.?\d)/gi;

// A run of digits with the separators phone and card numbers are written with. It must stand
// alone: not glued to a word, a path or a version so that ids and hashes stay intact.
const DIGIT_RUN = /(?<![\w.:/+-])\+?\(?\d[\d ().-]*\d\)?(?![\w:])/g;

const SSN = /^\d{3}-\d{2}-\d{4}$/;

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f\u0085\u2028\u2029]/g;
/** What escapeControls changes besides lone surrogates: CONTROL, CR and LF (a tab stays). */
const NEEDS_ESCAPE = /[\u0000-\u0008\u000a-\u001f\u007f\u0085\u2028\u2029]/;

/** Keys that name a credential: their whole value is dropped. Compared lower-case, separators removed. */
const SECRET_KEY =
  /passw(?:or)?d|passphrase|^pwd$|secret|token|cookie|authorization|^auth$|credential|apikey|privatekey|accesskey|signingkey|encryptionkey|sessionid|^key$|^keys$|^pin$|^otp$|^cvv$|^cvc$|signature/;

/** True when the field must be removed. Identifiers and usage counts of secrets are not secrets. */
export function isSecretKey(key: string, value: unknown): boolean {
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (!SECRET_KEY.test(k)) return false;
  // apiKeyId, tokenId: the id of a credential, which audit records exist to name.
  if (/(?:id|ids)$/.test(k) && k !== 'sessionid' && typeof value !== 'object') return false;
  // promptTokens, maxTokens, tokenCount: usage numbers of AI generations.
  if (/(?:tokens|count)$/.test(k) && typeof value === 'number') return false;
  // tokenUsage: { promptTokens, ... } is a usage record; its own fields are checked one by one.
  if (/usage$/.test(k) && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return false;
  }
  // tokenType, keyPrefix, apiKeyScopes: descriptions of a credential, not the credential.
  return !/(?:type|expiresat|createdat|prefix|scopes|name)$/.test(k);
}

/** `j***@example.com` (libs/contracts), re-exported for the audit service's callers. */
export { maskEmails };

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** French NIR: sex digit, year, month (or 20 for unknown) and, with 15 digits, a mod-97 key. */
function isNir(digits: string): boolean {
  if (!/^[12]\d{2}(?:0[1-9]|1[0-2]|20)\d{8}(?:\d{2})?$/.test(digits)) return false;
  if (digits.length === 13) return true;
  return 97 - Number(BigInt(digits.slice(0, 13)) % 97n) === Number(digits.slice(13));
}

/** Replaces every digit but the last `keep` with `*`, keeping the separators. */
function keepLast(text: string, keep: number): string {
  let remaining = text.replace(/\D/g, '').length - keep;
  let out = '';
  for (const ch of text) {
    if (remaining > 0 && ch >= '0' && ch <= '9') {
      out += '*';
      remaining--;
    } else {
      out += ch;
    }
  }
  return out;
}

function maskDigitRun(run: string): string {
  const digits = run.replace(/\D/g, '');
  if (SSN.test(run)) return keepLast(run, 4);
  if (digits.length >= 13 && digits.length <= 19 && luhn(digits)) return keepLast(run, 4);
  if ((digits.length === 13 || digits.length === 15) && isNir(digits)) return keepLast(run, 2);
  if (digits.length >= 7 && digits.length <= 15) return keepLast(run, 2);
  return run;
}

function maskNumbers(value: string): string {
  let out = '';
  let last = 0;
  for (const m of value.matchAll(PROTECTED)) {
    out += value.slice(last, m.index).replace(DIGIT_RUN, maskDigitRun) + m[0];
    last = m.index + m[0].length;
  }
  return out + value.slice(last).replace(DIGIT_RUN, maskDigitRun);
}

/**
 * CR and LF become the two characters `\n` / `\r`, other control and line-separator characters
 * `\uXXXX`, so a value written to a log or a CSV export can never start a forged line.
 */
export function escapeControls(value: string): string {
  // Most values have nothing to escape: one scan instead of four copies.
  if (!NEEDS_ESCAPE.test(value) && value.isWellFormed()) return value;
  // Lone surrogates become U+FFFD: Postgres refuses them (and NUL) in text and jsonb alike.
  return value
    .toWellFormed()
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')
    .replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function truncate(value: string): string {
  // The result is at most MAX_STRING long, so masking a masked value changes nothing.
  return value.length > MAX_STRING
    ? value.slice(0, MAX_STRING - TRUNCATED.length).toWellFormed() + TRUNCATED
    : value;
}

// What any rule below needs to find before it can change a string: an `@` (emails), a `=`
// (query secrets), a digit (numbers), an auth scheme's name, or a control or line-separator
// character. A string with none of them, well formed and short enough, is stored as it is.
const MAY_CHANGE = /[@=\d\u0000-\u001f\u007f\u0085\u2028\u2029]|bearer|basic|token/i;

// A whole UUID is a protected token (PROTECTED): no rule changes it. Ids are most of an event's
// strings, so they skip the rules too.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Every rule applied to one free-text string. */
export function maskString(value: string): string {
  if (UUID.test(value)) return value;
  if (value.length <= MAX_STRING && !MAY_CHANGE.test(value) && value.isWellFormed()) return value;
  // Each rule runs only when the text holds what any match of it starts from (its character or
  // word): a rule that cannot match would only scan and copy the string.
  let masked = maskEmails(value);
  if (AUTH_WORD.test(masked)) masked = masked.replace(AUTH_SCHEME, '$1 [REDACTED]');
  if (masked.includes('=')) masked = masked.replace(QUERY_SECRET, '$1[REDACTED]');
  if (DIGIT.test(masked)) masked = maskNumbers(masked);
  return truncate(escapeControls(masked));
}

/** AUTH_SCHEME's scheme names, one of which any match of it contains. */
const AUTH_WORD = /bearer|basic|token/i;
const DIGIT = /\d/;

/** maskString without its shortcuts: every rule on every string (the tests hold the two equal). */
export function maskStringFully(value: string): string {
  const masked = maskNumbers(
    maskEmails(value).replace(AUTH_SCHEME, '$1 [REDACTED]').replace(QUERY_SECRET, '$1[REDACTED]'),
  );
  return truncate(escapeControls(masked));
}

/** Card numbers sent as JSON numbers; shorter numbers are counts, sizes and times. */
function maskNumber(value: number): number | string {
  if (!Number.isSafeInteger(value) || value < 0) return value;
  const digits = String(value);
  return digits.length >= 15 && luhn(digits) ? keepLast(digits, 4) : value;
}

/** Masks any JSON-like value; returns a new structure and never mutates the input. */
export function maskValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskString(value);
  if (typeof value === 'number') return maskNumber(value);
  if (typeof value === 'boolean' || value === null) return value;
  if (typeof value !== 'object') return undefined;
  if (depth >= MAX_DEPTH) return TRUNCATED;
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ARRAY).map((v) => maskValue(v, depth + 1) ?? null);
    if (value.length > MAX_ARRAY) items.push(TRUNCATED);
    return items;
  }
  return maskObject(value as Record<string, unknown>, depth);
}

function maskObject(value: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (isSecretKey(key, v)) continue;
    const masked = maskValue(v, depth + 1);
    if (masked === undefined) continue;
    // defineProperty: a key named `__proto__` stays a plain field instead of replacing the prototype.
    Object.defineProperty(out, maskString(key), {
      value: masked,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Text that is kept (an IP, a request id) but must still not forge log lines. */
function safeText(value: string): string {
  return truncate(escapeControls(value));
}

/**
 * The event as it may be stored: PII masked, secrets removed, control characters escaped.
 * IPs are kept (security investigations need them); ids are left readable.
 */
export function maskEvent(event: AuditEvent): AuditEvent {
  const { actor, target } = event;
  const masked: AuditEvent = {
    ...event,
    actor: {
      type: actor.type,
      id: actor.id === null ? null : maskString(actor.id),
      ...(actor.apiKeyId !== undefined ? { apiKeyId: actor.apiKeyId } : {}),
      ...(actor.ip !== undefined ? { ip: safeText(actor.ip) } : {}),
      ...(actor.userAgent !== undefined ? { userAgent: maskString(actor.userAgent) } : {}),
    },
    metadata: maskObject(event.metadata, 0),
  };
  // A target id is usually a UUID; when it is an address it is masked like any other.
  if (target) masked.target = { type: safeText(target.type), id: safeText(maskEmails(target.id)) };
  if (event.requestId !== undefined) masked.requestId = safeText(event.requestId);
  if (event.traceId !== undefined) masked.traceId = safeText(event.traceId);
  return masked;
}
