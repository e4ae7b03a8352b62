// RFC 8785 JSON Canonicalization Scheme: the byte-exact form every audit hash is computed over.

/**
 * Serialises a JSON value canonically: object keys sorted by UTF-16 code units, no whitespace,
 * numbers in ECMAScript's shortest round-trip form, strings with JSON.stringify's escaping
 * (which is the escaping RFC 8785 prescribes). Values JSON cannot carry are refused, not skipped:
 * a hash over a silently different document would verify nothing.
 */
export function canonicalize(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON has no NaN or Infinity');
      // ES Number-to-String is exactly RFC 8785's number serialisation (-0 becomes 0).
      return JSON.stringify(value);
    case 'string':
      return canonicalString(value);
    case 'object': {
      if (Array.isArray(value)) {
        // A loop, not map and join: this runs for every event stored, exported or verified.
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          // A hole reads as undefined and is refused like any other undefined element.
          out += canonicalize(value[i]);
        }
        return `${out}]`;
      }
      const object = value as Record<string, unknown>;
      return `{${members(object, sortedKeys(object))}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot carry a ${typeof value}`);
  }
}

function canonicalString(value: string): string {
  if (!value.isWellFormed()) throw new TypeError('canonical JSON strings must be well formed');
  return JSON.stringify(value);
}

/** Own enumerable keys in the order RFC 8785 section 3.2.3 asks for: by UTF-16 code units. */
function sortedKeys(object: object): string[] {
  const keys = Object.keys(object);
  // Default sort compares UTF-16 code units too, but allocates; most objects here are small.
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    for (; j >= 0 && (keys[j] as string) > key; j--) keys[j + 1] = keys[j] as string;
    keys[j + 1] = key;
  }
  return keys;
}

/** `"key":value` pairs joined by commas, in the order given; undefined values are left out. */
function members(object: Record<string, unknown>, keys: readonly string[]): string {
  let out = '';
  for (const key of keys) {
    const v = object[key];
    if (v === undefined) continue;
    if (out !== '') out += ',';
    out += `${canonicalString(key)}:${canonicalize(v)}`;
  }
  return out;
}
