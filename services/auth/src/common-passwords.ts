// The breached/common password check: a shipped list (data/common-passwords.txt) refused at registration.
import { readFileSync } from 'node:fs';

let list: Set<string> | undefined;

/** Loaded once, on first use; the file sits beside src/ and dist/ alike. */
function commonPasswords(): Set<string> {
  if (!list) {
    const text = readFileSync(new URL('../data/common-passwords.txt', import.meta.url), 'utf8');
    list = new Set(
      text
        .split('\n')
        .map((line) => line.replace(/\r$/, ''))
        .filter((line) => line !== '' && !line.startsWith('# '))
        .map((line) => line.toLowerCase()),
    );
  }
  return list;
}

/** True when the password (ignoring case and surrounding spaces) is on the list. */
export function isCommonPassword(password: string): boolean {
  return commonPasswords().has(password.normalize('NFKC').trim().toLowerCase());
}
