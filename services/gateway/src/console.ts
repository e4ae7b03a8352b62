// Serves the web console (apps/console's Vite build): assets with immutable caching, and its one
// HTML page for every client route, each answer with a fresh CSP nonce stamped into its tags.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express, { type Express, type Request, type Response } from 'express';
import type { Logger } from '@securevault/observability';
import { AppError, errorBody, useHtmlCsp } from '@securevault/service-kit';

/**
 * What the console's vite.config.ts sets as `html.cspNonce`: Vite writes it into the nonce
 * attribute of every <script>, <link> and its csp-nonce <meta>. Each answer replaces it.
 */
export const NONCE_PLACEHOLDER = '__SECUREVAULT_CSP_NONCE__';

/** A client route: not the API, and no file extension (a missing file is a 404, not the page). */
const CLIENT_ROUTE = /^\/(?!api(?:\/|$))(?:[^.]*)$/;

export interface ConsoleOptions {
  /** the built console (its index.html and assets/); unset: the @securevault/console package's dist/ */
  dir?: string | undefined;
  logger: Logger;
}

/** Where the installed @securevault/console package keeps its build (in the image: node_modules). */
export function defaultConsoleDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('@securevault/console/package.json')), 'dist');
  } catch {
    return undefined;
  }
}

/** The page template, or why there is none; read once: a new console is a new deployment. */
function loadTemplate(dir: string | undefined): { html: string } | { problem: string } {
  if (dir === undefined) return { problem: 'the @securevault/console package is not installed' };
  let html: string;
  try {
    // The directory is the operator's configuration (CONSOLE_DIR), never request input.
    // eslint-disable-next-line security/detect-non-literal-fs-filename
    html = readFileSync(join(dir, 'index.html'), 'utf8');
  } catch {
    return { problem: `no index.html in ${dir}` };
  }
  // Without the placeholder no tag would carry the nonce and the page could not run a script.
  if (!html.includes(NONCE_PLACEHOLDER)) {
    return { problem: 'index.html carries no CSP nonce placeholder (was it built by vite build?)' };
  }
  return { html };
}

function wantsHtml(req: Request): boolean {
  return (req.get('accept') ?? '').toLowerCase().includes('text/html');
}

function notBuilt(req: Request, res: Response): void {
  res.status(503).setHeader('Retry-After', '60');
  if (wantsHtml(req)) {
    useHtmlCsp(res);
    res
      .type('html')
      .send(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SecureVault</title></head>' +
          '<body><h1>The console is not built</h1><p>The API under <code>/api</code> works. ' +
          'Build the console with <code>pnpm --filter @securevault/console build</code>, or set ' +
          '<code>CONSOLE_DIR</code> to a built copy, then restart the gateway.</p></body></html>',
      );
    return;
  }
  res
    .type('json')
    .send(errorBody('SERVICE_UNAVAILABLE', 'the web console is not built on this gateway'));
}

/**
 * Registers the console: after the API routes (so /api keeps its own answers and 404s), before
 * finishApp. A gateway without a build still starts; its pages then answer 503.
 */
export function consoleRoutes(app: Express, options: ConsoleOptions): void {
  const dir = options.dir ?? defaultConsoleDir();
  const template = loadTemplate(dir);
  if ('problem' in template) {
    options.logger.warn({ problem: template.problem }, 'web console unavailable');
  } else {
    options.logger.info({ dir }, 'web console served at /');
  }

  if (dir !== undefined && 'html' in template) {
    // Vite names assets by content hash: a changed file is a new URL, so a year is safe.
    app.use(
      '/assets',
      express.static(join(dir, 'assets'), {
        index: false,
        redirect: false,
        fallthrough: true,
        // Replaces the base app's no-store on files found; a miss stays an uncached JSON 404.
        setHeaders: (res) => res.setHeader('Cache-Control', 'public, max-age=31536000, immutable'),
      }),
    );
  }

  const page = (req: Request, res: Response) => {
    if ('problem' in template) {
      notBuilt(req, res);
      return;
    }
    // The page itself is never cached: each copy holds a nonce that must not be reused.
    const nonce = useHtmlCsp(res);
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(template.html.replaceAll(NONCE_PLACEHOLDER, nonce));
  };
  app.get('/index.html', page);
  app.get(CLIENT_ROUTE, page);

  if (dir !== undefined && 'html' in template) {
    // The few unhashed files Vite copies from public/ (the icon): cached for a day.
    app.use(
      express.static(dir, {
        index: false,
        redirect: false,
        setHeaders: (res) => res.setHeader('Cache-Control', 'public, max-age=86400'),
      }),
    );
  }
  // Other methods on a page: the console only reads.
  app.all(CLIENT_ROUTE, (_req, res, next) => {
    res.setHeader('Allow', 'GET, HEAD');
    next(new AppError('METHOD_NOT_ALLOWED', 'use GET'));
  });
}
