// The web console in a real browser: Debian's headless chromium (driven by playwright-core, no
// browser download) against the whole platform started as processes (scripts/lib/platform.ts):
// real gateway, auth, audit and workers on real Postgres and Redis; only the SMTP server and the
// OpenAI API are local stand-ins. The run writes screenshots of the main pages to
// coverage/screenshots (git-ignored), and to docs/screenshots too with UPDATE_SCREENSHOTS=1
// (`make screenshots`), so an ordinary run leaves the git tree clean.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { standinReplyWords } from '@securevault/testing';
import { REPO_ROOT } from '../../../scripts/lib/processes.ts';
import { startPlatform, type Platform } from '../../../scripts/lib/platform.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CONSOLE = join(REPO_ROOT, 'apps', 'console');
const DIST = join(CONSOLE, 'dist');
const SCREENSHOTS = [
  join(REPO_ROOT, 'coverage', 'screenshots'),
  ...(process.env.UPDATE_SCREENSHOTS === '1' ? [join(REPO_ROOT, 'docs', 'screenshots')] : []),
];
const ADMIN = `console-admin-${randomUUID().slice(0, 8)}@example.com`;
const MEMBER = `console-member-${randomUUID().slice(0, 8)}@example.com`;
const PASSWORD = `console-${randomUUID()}`;
const PROMPT = 'Write a welcome note';

// Without chromium the browser tests cannot run: CI must notice (fail), a laptop may skip.
const haveBrowser = existsSync(CHROMIUM);
const skipReason = haveBrowser
  ? undefined
  : `no chromium at ${CHROMIUM} (run scripts/ensure-tools.sh, or set CHROMIUM_PATH)`;
if (!haveBrowser && process.env.CI !== 'true') {
  process.stdout.write(`# skipping the console browser tests: ${skipReason}\n`);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Runs `vite build` when dist/ is missing or older than a source file (a build takes ~1 s). */
function buildIfStale(): void {
  const built = join(DIST, 'index.html');
  const sources = Math.max(
    newestMtime(join(CONSOLE, 'src')),
    newestMtime(join(CONSOLE, 'public')),
    statSync(join(CONSOLE, 'index.html')).mtimeMs,
    statSync(join(CONSOLE, 'vite.config.ts')).mtimeMs,
  );
  if (existsSync(built) && statSync(built).mtimeMs >= sources) return;
  const vite = join(CONSOLE, 'node_modules', '.bin', 'vite');
  const result = spawnSync(vite, ['build', '--logLevel', 'warn'], {
    cwd: CONSOLE,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(result.status, 0, `vite build failed:\n${result.stdout}\n${result.stderr}`);
}

/** Polls `check` until it returns a value (not undefined); fails with `what` after the timeout. */
async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe(
  'web console in headless chromium',
  { skip: !haveBrowser && process.env.CI !== 'true' },
  () => {
    let platform: Platform;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    /** console errors, page errors and CSP violations, each with where it happened */
    const problems: string[] = [];
    /** requests expected to fail while the test provokes it (they log "Failed to load resource") */
    let expectFailures = false;

    const shot = async (name: string) => {
      const image = await page.screenshot();
      for (const dir of SCREENSHOTS) writeFileSync(join(dir, `${name}.png`), image);
    };
    const go = async (label: string) => {
      // Client-side navigation through the menu, as a person would (a full load also works: /audit).
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: label, exact: true })
        .click();
    };

    before(async () => {
      assert.ok(haveBrowser, `CI=true requires the browser tests to run: ${skipReason}`);
      buildIfStale();
      for (const dir of SCREENSHOTS) mkdirSync(dir, { recursive: true });
      platform = await startPlatform({
        label: 'console',
        // Slow enough that the text is visibly streamed and can be cancelled half-way.
        modelChunkDelayMs: 60,
        extra: {
          ADMIN_EMAILS: ADMIN,
          CONSOLE_DIR: DIST,
          // The console polls and pages; the per-principal API limit is not what this suite tests.
          RATE_LIMIT_API_PER_MINUTE: '2000',
          // The dashboard's numbers come from a view the audit service refreshes this often.
          AUDIT_STATS_REFRESH_MS: '1000',
          // A cancel reaches the running generation within this (the reply streams for ~3.5 s).
          AI_CANCEL_POLL_MS: '100',
        },
      });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        // Root in a container has no user namespaces for chromium's sandbox.
        args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
      });
      context = await browser.newContext({
        viewport: { width: 1280, height: 800 },
        acceptDownloads: true,
        locale: 'en-GB',
        timezoneId: 'UTC',
      });
      // Every CSP violation the page sees, reported from inside it.
      await context.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) => {
          console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
        });
      });
      page = await context.newPage();
      page.on('console', (msg) => {
        if (msg.type() !== 'error') return;
        const text = msg.text();
        const url = msg.location().url;
        // Before sign-in, the app asks who is signed in and is told "nobody" (401): expected.
        const expected =
          /Failed to load resource/.test(text) &&
          (expectFailures || (/\/api\/auth\/me$/.test(url) && text.includes('401')));
        if (!expected) problems.push(`console: ${text} (${url})`);
      });
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    });

    after(async () => {
      await browser?.close();
      const codes = (await platform?.stop()) ?? [];
      const bad = codes.filter(([, code]) => code !== 0);
      if (bad.length > 0) {
        process.stderr.write(
          `service exit codes ${JSON.stringify(bad)}\n${platform.logs.slice(-60).join('\n')}\n`,
        );
      }
    });

    it('serves the page with a fresh nonce CSP, no inline script, cached assets; /api stays JSON', async () => {
      const first = await fetch(`${platform.baseUrl}/`, { headers: { accept: 'text/html' } });
      const second = await fetch(`${platform.baseUrl}/audit`, { headers: { accept: 'text/html' } });
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      const html = await first.text();
      const csp = first.headers.get('content-security-policy') ?? '';
      const nonce = /script-src 'nonce-([^']+)' 'strict-dynamic'/.exec(csp)?.[1];
      assert.ok(nonce, csp);
      assert.match(csp, /object-src 'none'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(first.headers.get('cache-control'), 'no-store');
      assert.match(first.headers.get('content-type') ?? '', /^text\/html/);
      // Every script is an external file carrying this answer's nonce; nothing inline.
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      assert.ok(scripts.length >= 1);
      for (const [, attrs, body] of scripts) {
        assert.match(attrs ?? '', /\bsrc="\/assets\//);
        assert.ok(attrs?.includes(`nonce="${nonce}"`), attrs);
        assert.equal(body?.trim(), '');
      }
      assert.ok(!html.includes('__SECUREVAULT_CSP_NONCE__'));
      assert.ok(!/\sstyle=/.test(html), 'no inline style attribute');
      // The next answer has another nonce.
      const other = /'nonce-([^']+)'/.exec(
        second.headers.get('content-security-policy') ?? '',
      )?.[1];
      assert.ok(other && other !== nonce);
      assert.ok((await second.text()).includes(`nonce="${other}"`));

      const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
      assert.ok(asset);
      const js = await fetch(`${platform.baseUrl}${asset}`);
      assert.equal(js.status, 200);
      assert.match(js.headers.get('cache-control') ?? '', /immutable/);
      assert.match(js.headers.get('cache-control') ?? '', /max-age=31536000/);
      await js.arrayBuffer();

      const missingAsset = await fetch(`${platform.baseUrl}/assets/nope.js`);
      assert.equal(missingAsset.status, 404);
      await missingAsset.arrayBuffer();
      const api = await fetch(`${platform.baseUrl}/api/nope`, { headers: { accept: 'text/html' } });
      assert.equal(api.status, 404);
      assert.equal(((await api.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
      assert.equal(
        api.headers.get('content-security-policy'),
        "default-src 'none';frame-ancestors 'none'",
      );
    });

    it('registers and signs in with a __Host- session cookie', async () => {
      const response = await page.goto(`${platform.baseUrl}/register`);
      assert.match(response?.headers()['content-security-policy'] ?? '', /'strict-dynamic'/);
      await page.getByRole('heading', { name: 'Create an account' }).waitFor();
      await page.getByLabel('Email').fill(ADMIN);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
      assert.equal(new URL(page.url()).pathname, '/');
      const cookie = (await context.cookies()).find((c) => c.name === '__Host-sv_session');
      assert.ok(cookie, 'the browser keeps the session cookie');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.secure, true);
      assert.equal(cookie.sameSite, 'Strict');
      // The signed-in shell shows the account and, for an admin, the administration pages.
      await page.getByText(ADMIN).waitFor();
      await page.getByRole('link', { name: 'Failed jobs' }).waitFor();
    });

    it('sends an email and sees its status become sent', async () => {
      await go('Send email');
      await page.getByRole('heading', { name: 'Send email' }).waitFor();
      const subject = `Console test ${randomUUID().slice(0, 8)}`;
      await page.getByLabel('To').fill('reader@example.com');
      await page.getByLabel('Subject').fill(subject);
      await page.getByLabel('From a template').check();
      await page.getByLabel('Template', { exact: true }).selectOption('welcome');
      await page.getByLabel('name', { exact: true }).fill('Ada');
      await page.getByLabel('product', { exact: true }).fill('SecureVault');
      // The preview renders the template as the worker will.
      await page.getByTestId('preview').getByText('Hello Ada,').waitFor();
      await page.getByRole('button', { name: 'Send email' }).click();
      const item = page.getByTestId('email-status').first();
      await item.locator('.status-sent').waitFor({ timeout: 30_000 });
      assert.equal(await item.locator('.status').textContent(), 'sent');
      const message = await platform.smtp.waitFor((m) => m.subject === subject, 20_000);
      assert.match(message.text ?? '', /Hello Ada,/);
      await shot('send-email');
    });

    it('streams a generation as it is written, and cancels one half-way', async () => {
      await go('Generate');
      await page.getByLabel('Prompt').fill(PROMPT);
      await page.getByRole('button', { name: 'Generate' }).click();
      const output = page.getByTestId('generated');
      // Part of the text is on the page while the model is still writing: streamed, not at once.
      await page.waitForFunction(() => {
        const status = document.querySelector('[data-testid="generation-status"]');
        const text = document.querySelector('[data-testid="generated"]')?.textContent ?? '';
        return status?.getAttribute('data-phase') === 'streaming' && text.startsWith('SecureVault');
      });
      const partial = (await output.textContent()) ?? '';
      const full = standinReplyWords([{ role: 'user', content: PROMPT }]).join(' ');
      assert.ok(partial.length < full.length, 'seen before the end');
      await page.locator('[data-phase="done"]').waitFor({ timeout: 30_000 });
      assert.equal(((await output.textContent()) ?? '').trim(), full);
      await page.getByText(/completion tokens/).waitFor();
      await shot('generate');

      await page.getByRole('button', { name: 'Generate' }).click();
      await page.waitForFunction(() => {
        const status = document.querySelector('[data-testid="generation-status"]');
        const text = document.querySelector('[data-testid="generated"]')?.textContent ?? '';
        return status?.getAttribute('data-phase') === 'streaming' && text.startsWith('SecureVault');
      });
      await page.getByRole('button', { name: 'Cancel' }).click();
      await page.locator('[data-phase="cancelled"]').waitFor({ timeout: 30_000 });
      const cut = ((await output.textContent()) ?? '').trim();
      assert.ok(cut.length < full.length, `cancelled before the end: ${cut}`);
    });

    it('filters the audit log, shows the chain intact, and exports the filtered events', async () => {
      await go('Audit log');
      await page.getByRole('heading', { name: 'Audit log' }).waitFor();
      await page.getByTestId('chain-status').filter({ hasText: 'Intact' }).waitFor();
      // Audit events arrive through a queue: apply the filter until the email's events are listed.
      await page.getByLabel('Action (or its beginning)').fill('email.');
      await until('email events in the audit log', async () => {
        await page.getByRole('button', { name: 'Apply filters' }).click();
        await page.waitForLoadState('networkidle');
        const actions = await page
          .getByTestId('audit-row')
          .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action') ?? ''));
        return actions.includes('email.sent') ? actions : undefined;
      }).then((actions) => {
        assert.ok(
          actions.every((a) => a.startsWith('email.')),
          `only email events: ${actions.join(', ')}`,
        );
      });
      await shot('audit');

      await page.getByRole('button', { name: 'Create download link' }).click();
      const link = page.getByTestId('export-link');
      await link.waitFor();
      const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
      assert.match(download.suggestedFilename(), /^securevault-audit-\d{8}T\d{6}\.csv$/);
      const path = await download.path();
      const csv = readFileSync(path, 'utf8');
      const rows = csv.trimEnd().split('\n');
      assert.ok(rows.length >= 3, csv);
      assert.ok(csv.includes('email.sent'));
      assert.ok(!csv.includes('auth.login'), 'the export has the filter of the page');
    });

    it('creates an API key shown once, and revokes it', async () => {
      await go('API keys');
      const name = `console key ${randomUUID().slice(0, 6)}`;
      await page.getByLabel('Name', { exact: true }).fill(name);
      await page.getByLabel(/Generate content/).check();
      await page.getByRole('button', { name: 'Create key' }).click();
      const key = ((await page.getByTestId('secret-value').textContent()) ?? '').trim();
      assert.ok(key.length > 20, key);
      const me = await fetch(`${platform.baseUrl}/api/auth/me`, {
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(me.status, 200);
      const principal = ((await me.json()) as { principal: { scopes: string[] } }).principal;
      assert.deepEqual([...principal.scopes].sort(), ['ai:generate', 'email:send']);
      await page.getByTestId('api-key').filter({ hasText: name }).waitFor();
      await shot('api-keys');

      const row = page.getByTestId('api-key').filter({ hasText: name });
      await row.getByRole('button', { name: `Revoke ${name}` }).click();
      await row.getByRole('button', { name: 'Yes, revoke' }).click();
      await row.getByText('revoked', { exact: true }).waitFor();
      // Revocation is pushed to every gateway: the key stops working at once.
      await until('the revoked key to be refused', async () => {
        const r = await fetch(`${platform.baseUrl}/api/auth/me`, {
          headers: { authorization: `Bearer ${key}` },
        });
        await r.arrayBuffer();
        return r.status === 401 ? true : undefined;
      });
    });

    it('draws the dashboard, the admin pages, and the console on a phone', async () => {
      // Keyboard first: the first Tab reaches the skip link, which moves focus to the content.
      await page.goto(`${platform.baseUrl}/`);
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
      await page.keyboard.press('Tab');
      assert.equal(
        await page.evaluate(() => document.activeElement?.textContent),
        'Skip to content',
      );
      await page.keyboard.press('Enter');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
      await page.getByRole('img', { name: /Emails per day/ }).waitFor();
      // 14 days was cached (empty) at sign-in; another period is counted afresh from the trail.
      await page.getByLabel('Period').selectOption('30');
      const totals = page.getByRole('list', { name: 'Totals' });
      await totals.getByText(/^[1-9]\d* emails sent$/).waitFor({ timeout: 20_000 });
      await totals.getByText(/^[1-9]\d* generations$/).waitFor();
      await page.getByRole('img', { name: /Emails per day over 30 days: Sent [1-9]/ }).waitFor();
      await shot('dashboard');
      await go('Security alerts');
      await page.getByRole('heading', { name: 'Security alerts' }).waitFor();
      await go('Failed jobs');
      await page.getByRole('heading', { name: 'Failed jobs' }).waitFor();
      await go('Suppressions');
      await page.getByRole('heading', { name: 'Suppression list' }).waitFor();
      await go('Webhooks');
      await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
      await go('Users');
      await page.getByRole('heading', { name: 'Users and roles' }).waitFor();

      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${platform.baseUrl}/`);
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
      // On a phone the navigation folds behind the menu button.
      const nav = page.getByRole('navigation', { name: 'Main' });
      assert.equal(await nav.isVisible(), false);
      await page.getByRole('button', { name: 'Menu' }).click();
      await nav.getByRole('link', { name: 'Audit log' }).waitFor();
      await shot('phone');
      await page.getByRole('button', { name: 'Menu' }).click();
      await page.setViewportSize({ width: 1280, height: 800 });
    });

    it('has logged no console error and no CSP violation on any page so far', () => {
      assert.deepEqual(problems, []);
    });

    it('registers a webhook, replays a failed email, and manages users and roles', async () => {
      // The replay and the demotion below are refused with a 409, which the browser logs as a
      // failed load.
      expectFailures = true;
      await go('Webhooks');
      await page.getByLabel('URL').fill('https://hooks.example.com/securevault');
      await page.getByRole('button', { name: 'Register' }).click();
      const secret = page.getByTestId('secret-value');
      const first = ((await secret.textContent()) ?? '').trim();
      assert.match(first, /^whsec_/);
      await page.getByRole('button', { name: 'Rotate secret' }).click();
      const second = await until('a new secret', async () => {
        const value = ((await secret.textContent()) ?? '').trim();
        return value !== first ? value : undefined;
      });
      assert.match(second, /^whsec_/);
      await page.getByText('Recent deliveries').click();
      await page.getByText('No deliveries yet.').waitFor();

      // An email to a suppressed address fails for good: it is listed (masked) on Failed jobs,
      // whose Replay is refused until the suppression is lifted, then goes out.
      await go('Suppressions');
      await page.getByLabel('Address', { exact: true }).fill('bounced@example.com');
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      await page.getByRole('cell', { name: 'bounced@example.com', exact: true }).waitFor();
      await go('Send email');
      const subject = `Suppressed ${randomUUID().slice(0, 8)}`;
      await page.getByLabel('To').fill('bounced@example.com');
      await page.getByLabel('Subject').fill(subject);
      await page.getByLabel('Message').fill('This one is refused.');
      await page.getByRole('button', { name: 'Send email' }).click();
      await page
        .getByTestId('email-status')
        .filter({ hasText: subject })
        .locator('.status-suppressed')
        .waitFor({ timeout: 30_000 });
      await go('Failed jobs');
      const failed = page.getByTestId('failed-email').filter({ hasText: subject });
      await failed.getByText('To b***@example.com').waitFor();
      assert.ok(
        !((await failed.textContent()) ?? '').includes('bounced@'),
        'the address is masked',
      );
      await failed.getByRole('button', { name: /^Replay/ }).click();
      await failed
        .getByText('The recipient is suppressed; remove the suppression first.')
        .waitFor();
      await shot('failed-jobs');
      await go('Suppressions');
      await page.getByRole('button', { name: 'Remove bounced@example.com' }).click();
      await page.getByText('No address is suppressed.').waitFor();
      await go('Failed jobs');
      await failed.getByRole('button', { name: /^Replay/ }).click();
      await failed.getByText('Queued again.').waitFor();
      await platform.smtp.waitFor((m) => m.subject === subject, 20_000);

      // Users: find an account by the beginning of its email, change its role, see it listed.
      const registered = await fetch(`${platform.baseUrl}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: MEMBER, password: PASSWORD }),
      });
      assert.equal(registered.status, 201, await registered.text());
      await go('Users');
      await page.getByRole('heading', { name: 'Users and roles' }).waitFor();
      // Newest first: the member registered last heads the unfiltered list.
      await page.getByTestId('user-row').first().filter({ hasText: MEMBER }).waitFor();
      const search = page.getByLabel('Email (or its beginning)');
      // The last admin cannot demote themselves.
      await search.fill(ADMIN.slice(0, 22));
      await search.press('Enter');
      const admin = page.getByTestId('user-row').filter({ hasText: ADMIN });
      await admin.getByText('you', { exact: true }).waitFor();
      const rows = page.getByTestId('user-row');
      // Until the search's answer replaces the list, the older rows are still there.
      await until('only the matching account', async () =>
        (await rows.count()) === 1 ? true : undefined,
      );
      assert.equal(
        await admin.getByRole('button', { name: `Disable ${ADMIN}` }).isDisabled(),
        true,
      );
      await admin.getByLabel(`Role of ${ADMIN}`, { exact: true }).selectOption('member');
      await admin.getByRole('button', { name: `Save the role of ${ADMIN}` }).click();
      assert.equal(
        await page.getByRole('alert').textContent(),
        'The last admin cannot be demoted.',
      );

      await search.fill(MEMBER.toUpperCase().slice(0, 20));
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      const member = page.getByTestId('user-row').filter({ hasText: MEMBER });
      await member.getByText(/^Member ·/).waitFor();
      await until('only the member (the prefix matches regardless of case)', async () =>
        (await rows.count()) === 1 ? true : undefined,
      );
      await member.getByLabel(`Role of ${MEMBER}`, { exact: true }).selectOption('admin');
      await member.getByRole('button', { name: `Save the role of ${MEMBER}` }).click();
      await page.getByText(`${MEMBER} is now an admin`).waitFor();
      await member.getByText(/^Admin ·/).waitFor();
      await member.getByRole('button', { name: `Disable ${MEMBER}` }).click();
      await member.getByText('disabled', { exact: true }).waitFor();
      // What the page shows is what auth now holds.
      await search.fill('');
      await search.press('Enter');
      await page.getByTestId('user-row').first().filter({ hasText: MEMBER }).waitFor();
      await page
        .getByTestId('user-row')
        .filter({ hasText: MEMBER })
        .getByText(/^Admin · disabled/)
        .waitFor();
      await shot('users');
    });

    it('explains errors in words: too many sign-ins, and an expired session', async () => {
      expectFailures = true;
      // Expire the session under the page: the next call is refused and the page says so.
      await context.clearCookies();
      await go('API keys');
      await page.getByText('Your session has expired, sign in again.').waitFor();
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await shot('signin');

      // Wrong passwords until the gateway's brute-force limit answers 429 with Retry-After.
      const email = page.getByLabel('Email');
      await email.fill(ADMIN);
      await page.getByLabel('Password').fill('not-the-password');
      const message = await until('the rate-limit message', async () => {
        await page.getByRole('button', { name: 'Sign in' }).click();
        const alert = page.getByRole('alert');
        await alert.waitFor();
        const text = (await alert.textContent()) ?? '';
        return /Too many requests/.test(text) ? text : undefined;
      });
      assert.match(message, /^Too many requests, try again in \d+ s\.$/);
      assert.ok(!message.includes('{'), 'never raw JSON');
      assert.deepEqual(
        problems.filter((p) => !p.includes('Failed to load resource')),
        [],
      );
    });
  },
);
