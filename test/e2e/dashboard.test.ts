// The dashboard of a real cluster in a real browser: `distribute head` and two compute
// daemons as child processes, batches added with the real CLI, and Debian's Chromium
// watching the page change as the cluster works — never reloaded. Screenshots of the
// pages are saved under test-output/screenshots/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { TestCluster } from '../helpers/cluster.js';
import { browserSkip, launchBrowser, screenshot, watchPageErrors } from '../helpers/browser.js';

/** The control socket of ws1, where `distribute pause` reaches its compute daemon. */
const controlSocket = (c: TestCluster) => join(c.root, 'ws1-control.sock');

/** A real change of a node's state that the head shows, how to cause it, and how to undo it. */
interface NodeStateCase {
  name: string;
  node: string;
  state: 'paused' | 'lost' | 'idle' | 'busy' | 'draining';
  act(c: TestCluster): Promise<void>;
  undo?(c: TestCluster): Promise<void>;
}

const NODE_STATE_CASES: NodeStateCase[] = [
  {
    name: 'paused after distribute pause at the workstation',
    node: 'ws1',
    state: 'paused',
    async act(c) {
      const r = await c.cli(['pause', '--duration', '10m', '--socket', controlSocket(c)]);
      assert.equal(r.code, 0, r.stderr);
    },
    async undo(c) {
      const r = await c.cli(['resume', '--socket', controlSocket(c)]);
      assert.equal(r.code, 0, r.stderr);
    },
  },
  {
    name: 'lost when its compute daemon is killed',
    node: 'ws2',
    state: 'lost',
    async act(c) {
      c.node('ws2').kill();
    },
  },
];

type InPage = { document: { querySelector(selector: string): { getAttribute(name: string): string | null } | null } };

describe('dashboard of a real cluster', { skip: browserSkip() }, () => {
  let c: TestCluster;
  let browser: Browser;
  let gate: string;
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];

  async function page(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const p = await context.newPage();
    p.setDefaultTimeout(20_000);
    errors.push(...watchPageErrors(p));
    return p;
  }

  /** The overview as `user`, logged in by opening the link with the token. */
  async function overviewAs(user: string, admin = false): Promise<Page> {
    const p = await page();
    await p.goto(`${httpUrl()}/?token=${await c.user(user, admin)}`);
    await p.waitForURL(`${httpUrl()}/`);
    await p.locator('tr[data-node]').first().waitFor();
    return p;
  }

  const httpUrl = () => c.url.replace(/^ws/, 'http');

  function batchFile(name: string, namespace: string, jobs: [string, string][]): string {
    const file = join(c.root, `${namespace}-${name}.yaml`);
    const lines = ['meta:', `  batch_name: ${name}`, `  namespace: ${namespace}`, '  capabilities: [shell]', 'shell:', '  jobs:'];
    for (const [job, command] of jobs) lines.push(`    - name: ${job}`, `      command: ${JSON.stringify(command)}`);
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  }

  const gated = (file: string) => `while [ ! -e ${file} ]; do sleep 0.05; done; echo released`;

  before(async () => {
    c = await TestCluster.start({ head: { node_timeout: '2s' }, nodes: [{ name: 'ws2', capabilities: ['shell'], cpus: 1 }] });
    await c.startNode({ name: 'ws1', capabilities: ['shell', 'python3'], cpus: 2, memory: '4G', config: { control_socket: controlSocket(c) } });
    gate = join(c.root, 'gate');
    browser = await launchBrowser();
  });

  after(async () => {
    for (const ctx of contexts) await ctx.close().catch(() => {});
    await browser?.close();
    await c?.stop();
  });

  it('refuses a wrong token with 401 and the login form', async () => {
    const p = await page();
    const byLink = await p.goto(`${httpUrl()}/?token=wrong-token-of-nobody`);
    assert.equal(byLink?.status(), 401);
    assert.match(await p.textContent('.error') ?? '', /not valid/);
    await p.fill('#token', 'another-wrong-token');
    const [byForm] = await Promise.all([p.waitForResponse((r) => r.url().endsWith('/login')), p.click('button[type=submit]')]);
    assert.equal(byForm.status(), 401);
    await p.locator('.error').waitFor();
    assert.equal((await p.context().cookies()).length, 0);
    await screenshot(p, 'cluster-wrong-token');
  });

  it('logs in with the form and shows every node with its capabilities', async () => {
    const p = await page();
    await p.goto(httpUrl());
    await p.fill('#token', await c.user('alice'));
    await p.click('button[type=submit]');
    await p.locator('tr[data-node="ws1"][data-state="idle"]').waitFor();
    await p.locator('tr[data-node="ws2"][data-state="idle"]').waitFor();
    assert.match(await p.locator('tr[data-node="ws1"]').innerText(), /0 \/ 2[\s\S]*0 B \/ 4\.0 GiB[\s\S]*shell[\s\S]*python3/);
    assert.equal(await p.textContent('#viewer'), 'alice');
  });

  it('shows nodes go busy, a failure with its exit code and stderr, and the bar reach 100% — without reloading', async () => {
    const p = await overviewAs('alice');
    await p.evaluate('window.marker = "still the same page"');
    const added = await c.cli(['add', batchFile('sweep', 'cylinder', [
      ['bad_mesh', 'echo "reading mesh"; echo "ValueError: mesh has 0 cells" >&2; exit 4'],
      ['re_100', gated(gate)],
      ['re_200', gated(gate)],
      ['re_300', gated(gate)],
    ])], { user: 'alice' });
    assert.equal(added.code, 0, added.stderr);

    const card = p.locator('[data-batch="cylinder/sweep"]');
    await p.locator('tr[data-node="ws1"][data-state="busy"]').waitFor();
    await p.locator('tr[data-node="ws2"][data-state="busy"]').waitFor();
    await card.locator('details.failure', { hasText: 'bad_mesh' }).waitFor();
    assert.match(await card.locator('details.failure').innerText(), /bad_mesh exit 4 on ws\d/);
    await card.locator('details.failure summary').click();
    await card.locator('pre.stderr', { hasText: 'ValueError: mesh has 0 cells' }).waitFor();
    assert.equal(await card.locator('.progress').getAttribute('data-progress'), '25');
    await screenshot(p, 'cluster-overview-running');

    writeFileSync(gate, '');
    await card.locator('.progress[data-progress="100"]').waitFor();
    assert.match(await card.locator('.pct').innerText(), /4 \/ 4 · 100%/);
    assert.equal(await card.getAttribute('data-state'), 'failed');
    await p.locator('tr[data-node="ws1"][data-state="idle"]').waitFor();
    await p.locator('tr[data-node="ws2"][data-state="idle"]').waitFor();
    assert.equal(await p.evaluate('window.marker'), 'still the same page');
    await screenshot(p, 'cluster-overview-finished');
  });

  for (const tc of NODE_STATE_CASES) {
    it(`shows a node go ${tc.name}, without reloading`, async () => {
      const p = await overviewAs('alice');
      await p.evaluate('window.marker = 1');
      await p.locator(`tr[data-node="${tc.node}"]`).waitFor();
      assert.notEqual(await p.locator(`tr[data-node="${tc.node}"]`).getAttribute('data-state'), tc.state);
      await tc.act(c);
      await p.locator(`tr[data-node="${tc.node}"][data-state="${tc.state}"]`).waitFor();
      assert.equal(await p.evaluate('window.marker'), 1);
      await screenshot(p, `cluster-node-${tc.state}`);
      if (tc.undo) {
        const before = await p.locator(`tr[data-node="${tc.node}"]`).getAttribute('data-state');
        await tc.undo(c);
        await p.waitForFunction(
          ([node, was]) => (globalThis as unknown as InPage).document.querySelector(`tr[data-node="${node}"]`)?.getAttribute('data-state') !== was,
          [tc.node, before] as const,
        );
      }
    });
  }

  it('shows a user nothing of another user\'s namespace', async () => {
    const alice = await overviewAs('alice');
    const bobGate = join(c.root, 'bob-gate');
    const added = await c.cli(['add', batchFile('private_run', 'bobs_lab', [['secret_job', gated(bobGate)]])], { user: 'bob' });
    assert.equal(added.code, 0, added.stderr);

    const bob = await overviewAs('bob');
    await bob.locator('[data-batch="bobs_lab/private_run"]').waitFor();
    await bob.locator('tr[data-node="ws1"]', { hasText: 'bobs_lab/private_run/secret_job' }).waitFor();
    assert.doesNotMatch(await bob.locator('body').innerText(), /cylinder|sweep|re_100/);
    await screenshot(bob, 'cluster-overview-bob');

    // alice's open page has been pushed bob's running job: counted on the node, never named
    await alice.locator('tr[data-node="ws1"]', { hasText: '1 job of other users' }).waitFor();
    assert.doesNotMatch(await alice.locator('body').innerText(), /bobs_lab|private_run|secret_job/);
    await bob.goto(`${httpUrl()}/batches/cylinder/sweep`);
    await bob.getByText('No such batch among the namespaces you can see.').waitFor();

    const admin = await overviewAs('root', true);
    await admin.locator('[data-batch="bobs_lab/private_run"]').waitFor();
    await admin.locator('[data-batch="cylinder/sweep"]').waitFor();
    await screenshot(admin, 'cluster-overview-admin');
    writeFileSync(bobGate, '');
    await bob.goto(httpUrl());
    await bob.locator('[data-batch="bobs_lab/private_run"] .progress[data-progress="100"]').waitFor();
  });

  it('lists a batch\'s jobs on its own page, filtered, with stderr on demand', async () => {
    const p = await overviewAs('alice');
    await p.click('a.batch-name:has-text("sweep")');
    await p.waitForURL(`${httpUrl()}/batches/cylinder/sweep`);
    await p.locator('tr[data-job]').nth(3).waitFor();
    assert.equal(await p.locator('tr[data-job]').count(), 4);
    await p.selectOption('#filter-state', 'failed');
    await p.locator('tr[data-job="re_100"]').waitFor({ state: 'detached' });
    assert.deepEqual(await p.locator('tr[data-job]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job'))), ['bad_mesh']);
    assert.match(await p.locator('tr[data-job="bad_mesh"]').innerText(), /failed[\s\S]*ws\d[\s\S]*exit 4/);
    await p.locator('tr[data-job="bad_mesh"] button', { hasText: 'stderr' }).click();
    await p.locator('pre.stderr', { hasText: 'ValueError: mesh has 0 cells' }).waitFor();
    await screenshot(p, 'cluster-batch-page');
    // the whole stdout, from the head's log route, opened with the cookie in a new tab
    const [log] = await Promise.all([p.context().waitForEvent('page'), p.click('tr[data-job="bad_mesh"] a.log-link')]);
    await log.waitForLoadState();
    assert.equal((await log.locator('body').innerText()).trim(), 'reading mesh');
    await log.close();
    assert.deepEqual(errors, []);
  });

  it('lets the logged-in browser read the API with its cookie, and nothing more', async () => {
    const p = await overviewAs('alice');
    const status = await p.context().request.get(`${httpUrl()}/v1/status`);
    assert.equal(status.status(), 200);
    const batches = (await status.json()) as { namespace: string; batch_name: string }[];
    assert.deepEqual(batches.map((b) => `${b.namespace}/${b.batch_name}`), ['cylinder/sweep']);
    const retry = await p.context().request.post(`${httpUrl()}/v1/batches/cylinder/sweep/retry`);
    assert.equal(retry.status(), 401, 'a cookie never stands for the token on a request that changes state');
  });
});
