// Masking of personal data shared by the services that show or store it: the audit trail masks
// every event with it, the gateway the failed-email listing (an SMTP refusal quotes the recipient).

// The domain's labels are one character class (no nested quantifier, so no catastrophic
// backtracking on long hostile strings); a domain with an empty label ("a..b") also matches.
const EMAIL = /[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@([A-Za-z0-9-][A-Za-z0-9.-]*\.[A-Za-z]{2,})/g;

/** `j***@example.com`: enough to recognise a domain, not to contact anyone. */
export function maskEmails(value: string): string {
  return value.replace(EMAIL, (match: string, domain: string) => `${match[0] ?? ''}***@${domain}`);
}
