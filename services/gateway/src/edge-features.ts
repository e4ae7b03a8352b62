// Feature flags, sticky A/B buckets and redirects at the edge, from a mounted JSON file re-read without restart.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Logger } from '@securevault/observability';
import { readCookie } from './authn.ts';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- express's own augmentation point
  namespace Express {
    interface Request {
      /** set by the edge middleware: flags that are on and this client's A/B variants */
      edge?: { flags: string[]; variants: Record<string, string> };
    }
  }
}

export const AB_COOKIE = 'sv_ab';
const NAME = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (1..64)');
/** Same-site paths only: a redirect target is never another host (no open redirect). */
const LocalPath = z
  .string()
  .max(2048)
  .regex(/^\/(?![/\\])[^\s]*$/, 'must be a path on this site, starting with a single /');

export const EdgeConfig = z.strictObject({
  flags: z.record(NAME, z.boolean()).default({}),
  experiments: z
    .record(
      NAME,
      z.strictObject({
        // Weights in any unit; a client lands in a variant with probability weight / total.
        variants: z
          .record(NAME, z.number().int().min(0).max(10_000))
          .refine((v) => Object.values(v).some((w) => w > 0), 'needs a variant with weight > 0'),
      }),
    )
    .default({}),
  redirects: z
    .array(
      z.strictObject({
        from: LocalPath,
        to: LocalPath,
        status: z
          .union([z.literal(301), z.literal(302), z.literal(307), z.literal(308)])
          .default(308),
      }),
    )
    .max(1000)
    .default([]),
});
export type EdgeConfig = z.infer<typeof EdgeConfig>;

const EMPTY: EdgeConfig = { flags: {}, experiments: {}, redirects: [] };

/**
 * The file is stat-ed at most once per `ttlMs` and parsed again only when its mtime changed
 * (Kubernetes swaps ConfigMap files by symlink, which file watchers miss). A file that does not
 * parse keeps the last good configuration, with a warning naming the problem's path only.
 */
export function edgeConfigSource(options: {
  path: string | undefined;
  ttlMs: number;
  logger: Pick<Logger, 'warn' | 'info'>;
  now?: () => number;
}): () => EdgeConfig {
  const now = options.now ?? Date.now;
  let current = EMPTY;
  let checkedAt = -Infinity;
  let version = '';
  return () => {
    if (!options.path || now() - checkedAt < options.ttlMs) return current;
    checkedAt = now();
    try {
      const stat = statSync(options.path);
      // Size and inode too: two writes within one mtime tick, or a symlink swap, still count.
      const seen = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
      if (seen === version) return current;
      version = seen;
      const parsed = EdgeConfig.safeParse(JSON.parse(readFileSync(options.path, 'utf8')));
      if (!parsed.success) {
        options.logger.warn(
          { problems: parsed.error.issues.map((i) => i.path.join('.')).slice(0, 10) },
          'edge config is invalid; keeping the last good one',
        );
        return current;
      }
      current = parsed.data;
      options.logger.info(
        {
          flags: Object.keys(current.flags).length,
          experiments: Object.keys(current.experiments).length,
          redirects: current.redirects.length,
        },
        'edge config loaded',
      );
    } catch (err) {
      options.logger.warn({ err }, 'edge config cannot be read; keeping the last good one');
    }
    return current;
  };
}

/** Deterministic bucket in [0, total): the same client id always lands in the same variant. */
function pick(clientId: string, experiment: string, variants: Record<string, number>): string {
  const entries = Object.entries(variants).filter(([, w]) => w > 0);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  const hash = createHash('sha256').update(`${experiment}:${clientId}`).digest();
  let point = hash.readUInt32BE(0) % total;
  for (const [name, weight] of entries) {
    if (point < weight) return name;
    point -= weight;
  }
  return entries[entries.length - 1]?.[0] ?? '';
}

const CLIENT_ID = /^[0-9a-f-]{36}$/;

export function edgeFeatures(config: () => EdgeConfig): RequestHandler {
  return (req, res, next) => {
    const edge = config();
    const redirect = edge.redirects.find((r) => r.from === req.path);
    if (redirect) {
      const query = req.originalUrl.includes('?')
        ? req.originalUrl.slice(req.originalUrl.indexOf('?'))
        : '';
      res.redirect(redirect.status, redirect.to + query);
      return;
    }
    const variants: Record<string, string> = {};
    const experiments = Object.entries(edge.experiments);
    if (experiments.length > 0) {
      let clientId = readCookie(req.get('cookie'), AB_COOKIE);
      if (!clientId || !CLIENT_ID.test(clientId)) {
        clientId = randomUUID();
        // Sticky for a year; Lax so a first visit from a link keeps its bucket. Holds no identity.
        res.append(
          'Set-Cookie',
          `${AB_COOKIE}=${clientId}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=31536000`,
        );
      }
      for (const [name, experiment] of experiments)
        variants[name] = pick(clientId, name, experiment.variants);
    }
    const flags = Object.entries(edge.flags)
      .filter(([, on]) => on)
      .map(([name]) => name);
    req.edge = { flags, variants };
    next();
  };
}
