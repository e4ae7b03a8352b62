// Offline verifier of an NDJSON audit export: `node verify-export.ts [--prev <hash>] < export.ndjson`.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { GENESIS_HASH, hashStored } from './chain.ts';
import type { StoredAuditEvent } from '@securevault/contracts';

export interface ExportCheck {
  valid: boolean;
  checked: number;
  /** the last hash checked: compare it with a published chain head */
  lastHash: string | null;
  lastSeq: string | null;
  problem?: { line: number; seq: string | null; reason: string };
}

/**
 * Re-hashes every line of an unfiltered export and checks each link. Without `firstPrev` the first
 * line's own prevHash is trusted (an export may start after a retention checkpoint).
 */
export async function verifyExport(input: Readable, firstPrev?: string): Promise<ExportCheck> {
  let prev = firstPrev ?? null;
  let checked = 0;
  let lastSeq: string | null = null;
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    const fail = (seq: string | null, reason: string): ExportCheck => ({
      valid: false,
      checked,
      lastHash: prev,
      lastSeq,
      problem: { line: checked + 1, seq, reason },
    });
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return fail(null, 'not JSON');
    }
    const { prevHash, hash, ...event } = record;
    const seq = typeof event.seq === 'string' ? event.seq : null;
    if (typeof prevHash !== 'string' || typeof hash !== 'string') return fail(seq, 'no hashes');
    if (prev !== null && prevHash !== prev) return fail(seq, 'prev_hash_mismatch');
    if (hashStored(event as StoredAuditEvent, prevHash) !== hash) return fail(seq, 'hash_mismatch');
    prev = hash;
    lastSeq = seq;
    checked++;
  }
  return { valid: true, checked, lastHash: prev, lastSeq };
}

if (import.meta.main) {
  const at = process.argv.indexOf('--prev');
  const first = at > 0 ? process.argv[at + 1] : undefined;
  const start = first === 'genesis' ? GENESIS_HASH : first;
  const result = await verifyExport(process.stdin, start);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = result.valid ? 0 : 1;
}
