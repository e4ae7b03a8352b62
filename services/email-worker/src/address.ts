// Email address helpers that keep recipients out of logs, errors and audit events.
import { replaceAtSigns } from '@securevault/contracts';

/** The domain of a From value (`Name <user@example.com>` or `user@example.com`), lower-cased. */
export function domainOf(from: string): string | undefined {
  const match = /@([A-Za-z0-9.-]+\.?[A-Za-z0-9-]*)>?\s*$/.exec(from.trim());
  const domain = match?.[1]?.replace(/\.$/, '').toLowerCase();
  return domain && domain.length > 0 ? domain : undefined;
}

// SMTP servers echo the recipient in their replies ("550 <bob@example.com> unknown"). An address
// is what /[^\s<>()[\]",;:@]+@[^\s<>()[\]",;:@]+/g matches, found in linear time (replaceAtSigns):
// a reply is remote text, and that regex is quadratic on a long run without an `@`.
const NOT_ADDRESS = /[\s<>()[\]",;:@]/;
const ADDRESS_END = /[^\s<>()[\]",;:@]+/y;

/** Replaces anything that looks like an email address, so a reason can be logged and stored. */
export function withoutAddresses(text: string): string {
  return replaceAtSigns(
    text,
    (code) => !NOT_ADDRESS.test(String.fromCharCode(code)),
    ADDRESS_END,
    () => '[address]',
  );
}
