// The dashboard page in a real headless Chromium, served over a real store whose rows the
// test sets (exact situations, cheaply). The cluster test (dashboard.test.ts) drives the
// same page with real daemons.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createToken } from '../../head/tokens.js';
import { browserSkip, launchBrowser, screenshot, watchPageErrors } from '../helpers/browser.js';
import { startDashboardServer, type DashboardServer } from '../head/dashboard/server.js';
import { seedArchive, seedBatch, seedNode, setJobState } from '../head/dashboard/seed.js';

/** Waits until the batch page lists exactly n job rows. */
async function jobRows(page: Page, n: number): Promise<void> {
  // a function, not a string: the page's CSP forbids eval, and rightly
  type InPage = { document: { querySelectorAll(selector: string): { length: number } } };
  await page.waitForFunction((want) => (globalThis as unknown as InPage).document.querySelectorAll('tr[data-job]').length === want, n);
}

describe('dashboard page in a browser', { skip: browserSkip() }, () => {
  let srv: DashboardServer;
  let browser: Browser;
  let alice: string;
  let bob: string;
  const contexts: BrowserContext[] = [];

  async function freshPage(): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    return { page, errors: watchPageErrors(page) };
  }

  async function loggedIn(token: string, path = '/'): Promise<{ page: Page; errors: string[] }> {
    const p = await freshPage();
    await p.page.goto(`${srv.base}/?token=${token}`);
    await p.page.waitForURL(`${srv.base}/`);
    if (path !== '/') await p.page.goto(`${srv.base}${path}`);
    return p;
  }

  before(async () => {
    srv = await startDashboardServer();
    const { store } = srv;
    alice = createToken(store, { kind: 'user', name: 'alice' });
    bob = createToken(store, { kind: 'user', name: 'bob' });
    seedNode(store, { name: 'ws-anna', cpus: 16, memory: 64 * 2 ** 30, gpus: 2, capabilities: ['python3', 'gfortran', '<img src=x onerror=alert(1)>'] });
    seedNode(store, { name: 'ws-bert', cpus: 8, capabilities: ['python3'] });
    const jobs = Array.from({ length: 12 }, (_, i) => ({
      name: `re_${100 + 10 * i}`,
      state: i < 6 ? ('done' as const) : i < 8 ? ('failed' as const) : i < 10 ? ('running' as const) : ('queued' as const),
      node: i < 10 ? (i % 2 ? 'ws-anna' : 'ws-bert') : undefined,
      exitCode: i < 6 ? 0 : i < 8 ? 2 : null,
      cpus: 2,
    }));
    seedBatch(store, { namespace: 'cylinder', owner: 'alice', name: 're_sweep', jobs });
    await seedArchive(srv.stateDir, 'cylinder', 're_sweep', 're_160', 'reading mesh.dat\nTraceback (most recent call last):\nValueError: Reynolds number out of range\n');
    await seedArchive(srv.stateDir, 'cylinder', 're_sweep', 're_170', 'Segmentation fault\n');
    seedBatch(store, {
      namespace: 'cylinder',
      owner: 'alice',
      name: 'ordered',
      jobs: [
        { name: 'mesh', state: 'done', node: 'ws-anna', exitCode: 0 },
        { name: 'coarse', state: 'running', node: 'ws-bert' },
        ...[1, 2, 3].map((i) => ({ name: `solve_${i}`, state: 'queued' as const, after: ['mesh', 'coarse'] })),
        { name: '_finalize', state: 'queued', finalize: true },
      ],
    });
    seedBatch(store, {
      namespace: 'cylinder',
      owner: 'alice',
      name: 'gathered',
      jobs: [
        { name: 'mesh', state: 'done', node: 'ws-anna', exitCode: 0 },
        { name: '_finalize', state: 'running', node: 'ws-bert', finalize: true },
      ],
    });
    seedBatch(store, { namespace: 'bobs_private', owner: 'bob', name: 'secret_batch', jobs: [{ name: 'only_job', state: 'running', node: 'ws-anna', cpus: 4 }] });
    browser = await launchBrowser();
  });

  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    srv?.close();
  });

  it('refuses a wrong token at the form, then logs in and keeps the token in an HttpOnly cookie', async () => {
    const { page, errors } = await freshPage();
    const first = await page.goto(`${srv.base}/`);
    assert.equal(first?.status(), 401);
    await page.fill('#token', 'certainly-not-a-token');
    await page.click('button[type=submit]');
    await page.waitForSelector('.error');
    assert.match(await page.textContent('.error') ?? '', /not valid/);
    await screenshot(page, 'page-login-refused');
    await page.fill('#token', alice);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-batch="cylinder/re_sweep"]');
    assert.equal(page.url(), `${srv.base}/`);
    assert.equal(await page.textContent('#viewer'), 'alice');
    const [cookie] = await page.context().cookies();
    assert.equal(cookie?.name, 'distribute_token');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Lax');
    assert.equal(await page.evaluate('document.cookie'), '', 'the page script cannot read the token');
    assert.deepEqual(errors, []);
  });

  it('takes a token from the link and drops it from the address bar', async () => {
    const { page } = await freshPage();
    await page.goto(`${srv.base}/?token=${alice}`);
    await page.waitForSelector('[data-batch="cylinder/re_sweep"]');
    assert.equal(page.url(), `${srv.base}/`);
    assert.doesNotMatch(await page.evaluate('location.href'), /token/);
  });

  it('shows nodes with what they hold, batches with a bar per state, failures with exit code and stderr', async () => {
    const { page, errors } = await loggedIn(alice);
    const anna = page.locator('tr[data-node="ws-anna"]');
    await anna.waitFor();
    assert.equal(await anna.getAttribute('data-state'), 'busy');
    const annaText = await anna.innerText();
    assert.match(annaText, /6 \/ 16/); // alice's running job (2 cpus) and bob's (4), counted but not named
    assert.match(annaText, /1 job of other users/);
    assert.match(annaText, /<img src=x onerror=alert\(1\)>/, 'a capability is shown as text, never as markup');
    assert.equal(await page.locator('img[src=x]').count(), 0);
    const card = page.locator('[data-batch="cylinder/re_sweep"]');
    assert.equal(await card.locator('.progress').getAttribute('data-progress'), '66');
    assert.match(await card.locator('.pct').innerText(), /8 \/ 12 · 66%/);
    assert.deepEqual(await card.locator('.bar > span').evaluateAll((els) => els.map((e) => e.getAttribute('data-state'))), ['done', 'failed', 'running', 'queued']);
    await card.locator('details.failure', { hasText: 're_160' }).locator('summary').click();
    await card.locator('pre.stderr', { hasText: 'ValueError: Reynolds number out of range' }).waitFor();
    assert.match(await card.locator('details.failure', { hasText: 're_160' }).innerText(), /exit 2 on ws-bert/);
    await screenshot(page, 'page-overview');
    assert.deepEqual(errors, []);
  });

  it('updates without reloading when a node pauses and a batch finishes', async () => {
    const { page, errors } = await loggedIn(alice);
    await page.locator('tr[data-node="ws-bert"][data-state="busy"]').waitFor();
    await page.evaluate('window.marker = 42');
    seedNode(srv.store, { name: 'ws-bert', cpus: 8, capabilities: ['python3'], paused: true });
    srv.dash.changed();
    await page.locator('tr[data-node="ws-bert"][data-state="paused"]').waitFor();
    for (const job of ['re_180', 're_190', 're_200', 're_210']) setJobState(srv.store, 'cylinder', 're_sweep', job, 'done', 0);
    srv.dash.changed();
    await page.locator('[data-batch="cylinder/re_sweep"] .progress[data-progress="100"]').waitFor();
    assert.equal(await page.evaluate('window.marker'), 42, 'the page was not reloaded');
    assert.equal(await page.getAttribute('[data-batch="cylinder/re_sweep"]', 'data-state'), 'failed');
    await screenshot(page, 'page-overview-finished');
    assert.deepEqual(errors, []);
  });

  it('reconnects by itself when the stream is cut, and goes on updating', async () => {
    const { page, errors } = await loggedIn(alice);
    await page.locator('#live[data-live="open"]').waitFor();
    await page.evaluate('window.marker = 7');
    srv.dropConnections();
    await page.locator('#live[data-live="connecting"]').waitFor();
    await page.locator('#live[data-live="open"]').waitFor();
    seedNode(srv.store, { name: 'ws-bert', cpus: 8, capabilities: ['python3'], draining: true });
    srv.dash.changed();
    await page.locator('tr[data-node="ws-bert"][data-state="draining"]').waitFor();
    assert.equal(await page.evaluate('window.marker'), 7, 'the page was not reloaded');
    assert.deepEqual(errors.filter((e) => !/ERR_CONNECTION|net::/.test(e)), []);
  });

  it('shows a user nothing of another user\'s namespace', async () => {
    const { page, errors } = await loggedIn(bob);
    await page.locator('[data-batch="bobs_private/secret_batch"]').waitFor();
    const text = await page.locator('body').innerText();
    assert.doesNotMatch(text, /cylinder|re_sweep|re_1\d0/);
    assert.equal(await page.locator('[data-batch]').count(), 1);
    await page.goto(`${srv.base}/batches/cylinder/re_sweep`);
    await page.getByText('No such batch among the namespaces you can see.').waitFor();
    assert.doesNotMatch(await page.locator('main').innerText(), /re_1\d0/);
    await screenshot(page, 'page-other-users-batch');
    assert.deepEqual(errors, []);
  });

  it('lists one batch\'s jobs, filtered by state and name, with stderr on demand', async () => {
    const { page, errors } = await loggedIn(alice, '/batches/cylinder/re_sweep');
    await page.locator('tr[data-job]').first().waitFor();
    assert.equal(await page.locator('tr[data-job]').count(), 12);
    await page.selectOption('#filter-state', 'failed');
    await jobRows(page, 2);
    assert.deepEqual(await page.locator('tr[data-job]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job'))), ['re_160', 're_170']);
    assert.match(page.url(), /\?state=failed$/);
    await page.fill('#filter-text', '17');
    await jobRows(page, 1);
    assert.match(page.url(), /\?state=failed&q=17$/);
    await page.locator('tr[data-job="re_170"] button', { hasText: 'stderr' }).click();
    await page.locator('pre.stderr', { hasText: 'Segmentation fault' }).waitFor();
    await screenshot(page, 'page-batch-filtered');
    // the filter survives a reload: it lives in the address
    await page.reload();
    await jobRows(page, 1);
    assert.equal(await page.inputValue('#filter-state'), 'failed');
    assert.deepEqual(errors, []);
  });

  it('labels waiting jobs with what they wait for, and shows them and the finalize step on the timeline', async () => {
    const { page, errors } = await loggedIn(alice, '/batches/cylinder/ordered');
    await jobRows(page, 6);
    // mesh is done: a solve waits for coarse alone; the finalize step for the 4 jobs still to end
    assert.equal(await page.locator('tr[data-job="solve_2"] .badge[data-waiting]').textContent(), 'waiting for coarse');
    assert.equal(await page.locator('tr[data-job="_finalize"] .badge[data-waiting]').textContent(), 'waiting for every other job (4 still to end)');
    assert.equal(await page.locator('tr[data-job="_finalize"] .marker').textContent(), 'finalize');
    assert.equal(await page.locator('tr[data-job="coarse"] .badge[data-waiting]').count(), 0);
    const lane = page.locator('#timeline g.lane[data-waiting]');
    assert.equal(await lane.locator('text.waiting-label').textContent(), '3 waiting · finalize waits');
    assert.match((await lane.locator('rect.waiting-bar title').textContent())!, /^3 jobs waiting for others \(solve_1, solve_2, solve_3\); the finalize step waits for every other job to end$/);
    await screenshot(page, 'page-batch-waiting');

    const gathered = await loggedIn(alice, '/batches/cylinder/gathered');
    await jobRows(gathered.page, 2);
    const bar = gathered.page.locator('#timeline rect.attempt[data-finalize]');
    assert.equal(await bar.getAttribute('data-job'), '_finalize');
    assert.match((await bar.locator('title').textContent())!, /^the finalize step · attempt 1 on ws-bert/);
    assert.equal(await gathered.page.locator('#timeline text.finalize-label').textContent(), 'finalize');
    assert.equal(await gathered.page.locator('#timeline g.lane[data-waiting]').count(), 0, 'nothing waits');
    assert.deepEqual([...errors, ...gathered.errors], []);
  });
});
