// The approvals console in a real browser (Debian's Chromium driven by playwright-core): a reviewer signs in through
// the OpenID provider's own login page, sees the held call, approves it with a comment, and the waiting client gets
// the upstream result. Screenshots go to .run/test-results/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, textOf } from '../helpers/mcp.js';
import { freePort, startOidcProvider, type TestOidc } from '../helpers/oidc.js';
import { ROOT, tempDir } from '../helpers/paths.js';
import { buildExampleBundle } from '../helpers/policies.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { directClient, httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const RESOURCE = 'https://portcullis.test/mcp';
const CHROMIUM = '/usr/bin/chromium';
const OUT = join(ROOT, '.run', 'test-results');

describe('approvals console in Chromium', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let oidc: TestOidc;
  let browser: Browser;
  let direct: Awaited<ReturnType<typeof directClient>>;
  let carolToken: string;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
    const { dir, cleanup } = tempDir('portcullis-console-');
    scope.defer(null, cleanup);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    direct = scope.defer(await directClient(up.url), (d) => d.close());
    const port = await freePort();
    oidc = scope.defer(
      await startOidcProvider({
        people: [
          { sub: 'carol', roles: ['engineer'] },
          { sub: 'rita', name: 'Rita Reviewer', groups: ['reviewers'] },
        ],
        resource: RESOURCE,
        consoleRedirectUris: [`http://127.0.0.1:${port}/console/callback`],
      }),
      (o) => o.stop(),
    );
    carolToken = await oidc.token('carol');
    process.env.PORTCULLIS_IT_CONSOLE_SECRET = oidc.consoleClientSecret;
    gw = scope.defer(
      await startGateway(dir, {
        listen: { host: '127.0.0.1', port },
        auth: { mode: 'jwt', issuer: oidc.issuer, audience: RESOURCE, jwks: { url: oidc.jwksUrl } },
        policy: { bundle: buildExampleBundle(dir) },
        servers: [httpServer('ops', up.url)],
        approvals: { console: { clientId: oidc.consoleClientId, clientSecretEnv: 'PORTCULLIS_IT_CONSOLE_SECRET', scopes: ['openid', 'profile', 'groups'] } },
      }),
      (g) => g.stop(),
    );
    browser = scope.defer(
      await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      }),
      (b) => b.close(),
    );
    mkdirSync(OUT, { recursive: true });
  });
  after(() => scope.close());

  it('a reviewer signs in at the provider, sees the held call, approves it with a comment; the client gets the result', async (t) => {
    const carol = await connectClient(gw.url, carolToken);
    const before = await direct.countCalls();
    const call = carol.callTool({ name: 'ops__delete_thing', arguments: { id: 'card 4111 1111 1111 1111' } }, undefined, { timeout: 60_000 });
    call.catch(() => {}); // a failure is asserted below, not reported early as unhandled

    const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    // Nothing leaves this machine: the provider's stock login page imports a web font, which is refused at once.
    await context.route(/^https?:\/\/(?!127\.0\.0\.1)/, (r) => r.abort());
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && m.location().url.startsWith(gw.base)) problems.push(`console: ${m.text()}`);
    });

    await page.goto(`${gw.base}/console`);
    await page.getByRole('link', { name: 'Sign in' }).click();
    // The provider's own login page (oidc-provider's interaction form).
    await page.waitForURL(`${oidc.issuer}/interaction/**`);
    await page.locator('input[name="login"]').fill('rita');
    await page.locator('input[name="password"]').fill('correct horse');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.waitForURL(`${gw.base}/console`);
    await page.getByText('Signed in as Rita Reviewer (rita)').waitFor();

    // The pending list refreshes itself: the held call appears without a reload.
    const row = page.locator('#pending-rows tr').filter({ hasText: 'ops / delete_thing' });
    await row.waitFor({ timeout: 10_000 });
    assert.match(await row.innerText(), /carol/);
    assert.match(await row.innerText(), /requires approval by reviewers/);
    await page.screenshot({ path: join(OUT, 'approval-console-pending.png'), fullPage: true });

    await row.getByRole('link', { name: 'Review' }).click();
    await page.getByRole('heading', { name: 'ops / delete_thing' }).waitFor();
    const args = await page.locator('#detail-args').innerText();
    assert.match(args, /card \[redacted:card\]/);
    assert.doesNotMatch(args, /4111/);
    assert.equal(await direct.countCalls(), before, 'still held while the reviewer reads');

    await page.getByLabel(/Comment/).fill('Checked with the owner; go ahead.');
    await page.screenshot({ path: join(OUT, 'approval-console-detail.png'), fullPage: true });
    const t0 = performance.now();
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('Approved. The waiting call is released and runs now.').waitFor();
    const result = await call;
    t.diagnostic(`click Approve → client result: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(textOf(result), 'deleted card [redacted:card]');
    assert.equal(await direct.countCalls(), before + 1);
    await page.screenshot({ path: join(OUT, 'approval-console-approved.png'), fullPage: true });

    // Back on the list, the decision shows under recent decisions with the reviewer and the comment.
    await page.getByRole('link', { name: '← All pending calls' }).click();
    const recent = page.locator('#recent-rows tr').filter({ hasText: 'Checked with the owner; go ahead.' });
    await recent.waitFor();
    assert.match(await recent.innerText(), /approved · ran/);
    assert.match(await recent.innerText(), /Rita Reviewer/);
    await waitFor(async () => (await page.locator('#pending-empty').isVisible()) || null, 'empty pending list', 5000);
    await page.screenshot({ path: join(OUT, 'approval-console-recent.png'), fullPage: true });

    // The session cookie is not readable by script (HttpOnly).
    assert.equal(await page.evaluate(() => document.cookie), '');
    assert.deepEqual(problems, []);
    await context.close();
    await carol.close();
  });
});
