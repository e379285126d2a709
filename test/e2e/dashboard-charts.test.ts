// The dashboard's pictures of a real cluster in a real browser: `distribute head` sampling
// utilisation every second, two compute daemons, a 40-job batch added with the real CLI (one
// job fails), then Chromium on the batch page (a timeline with a lane per node and a bar per
// attempt, a histogram of run times) and the overview (cpus busy per node over time). The
// same numbers come from /v1/usage as JSON. Screenshots go to test-output/screenshots/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { TestCluster } from '../helpers/cluster.js';
import { browserSkip, launchBrowser, screenshot, SCREENSHOT_DIR, watchPageErrors } from '../helpers/browser.js';
import { until } from '../helpers/until.js';
import type { Usage } from '../../head/usage/query.js';

const JOBS = 40;

type InPage = { getComputedStyle(el: unknown): { fill: string } };

describe('dashboard pictures of a 40-job batch on two nodes', { skip: browserSkip() }, () => {
  let c: TestCluster;
  let browser: Browser;
  let token: string;
  const errors: string[] = [];
  const httpUrl = () => c.url.replace(/^ws/, 'http');

  async function page(path: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await context.newPage();
    p.setDefaultTimeout(30_000);
    errors.push(...watchPageErrors(p));
    await p.goto(`${httpUrl()}/?token=${token}`);
    await p.waitForURL(`${httpUrl()}/`);
    if (path !== '/') await p.goto(`${httpUrl()}${path}`);
    return p;
  }

  before(async () => {
    c = await TestCluster.start({
      head: { usage_sample_interval: '1s' },
      nodes: [
        { name: 'ws1', capabilities: ['shell'], cpus: 2 },
        { name: 'ws2', capabilities: ['shell'], cpus: 2 },
      ],
    });
    token = await c.user('alice');
    browser = await launchBrowser();
    const lines = ['meta:', '  batch_name: sweep', '  namespace: charts', '  capabilities: [shell]', 'shell:', '  jobs:'];
    for (let i = 1; i <= JOBS; i++) {
      // run times from 0.1 to 0.8 s, so the histogram has a spread; job 13 fails
      const command = i === 13 ? 'sleep 0.3; exit 3' : `sleep 0.${(i % 8) + 1}`;
      lines.push(`    - name: j${String(i).padStart(2, '0')}`, `      command: ${JSON.stringify(command)}`);
    }
    const file = join(c.root, 'sweep.yaml');
    writeFileSync(file, lines.join('\n') + '\n');
    const added = await c.cli(['add', file], { user: 'alice' });
    assert.equal(added.code, 0, added.stderr);
    await until(async () => {
      const r = await c.cli(['status', 'sweep', '--json'], { user: 'alice' });
      const [b] = JSON.parse(r.stdout) as { counts: { done: number; failed: number } }[];
      return b && b.counts.done + b.counts.failed === JOBS;
    }, 'the 40 jobs to end', 120_000, 250);
  });

  after(async () => {
    await browser?.close();
    await c?.stop();
  });

  it('draws the batch timeline: 40 bars in 2 lanes, the failed one red; and a histogram of run times', async () => {
    const p = await page('/batches/charts/sweep');
    const timeline = p.locator('#timeline svg.timeline');
    await timeline.locator('rect.attempt').nth(JOBS - 1).waitFor();
    assert.equal(await timeline.locator('rect.attempt').count(), JOBS);
    assert.deepEqual(await timeline.locator('g.lane').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-node'))), ['ws1', 'ws2']);
    for (const node of ['ws1', 'ws2']) assert.ok((await timeline.locator(`g.lane[data-node="${node}"] rect.attempt`).count()) > 0, `${node} has bars`);
    assert.deepEqual(await timeline.locator('rect.attempt[data-outcome="failed"]').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-job'))), ['j13']);
    assert.equal(await timeline.locator('rect.attempt[data-outcome="ok"]').count(), JOBS - 1);
    // a failed bar is drawn in the failure colour, not the done one
    const fills = await timeline.locator('rect.attempt').evaluateAll((rs) => [...new Set(rs.map((r) => (globalThis as unknown as InPage).getComputedStyle(r).fill))]);
    assert.equal(fills.length, 2, `two colours: ${fills.join(', ')}`);
    const hist = p.locator('#histogram svg.histogram rect.hist-bar');
    assert.ok((await hist.count()) >= 3, 'run times spread over several bins');
    const counted = (await hist.evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-count'))))).reduce((a, b) => a + b, 0);
    assert.equal(counted, JOBS, 'every ended attempt is in the histogram once');
    await screenshot(p, 'charts-batch-page');
    await p.locator('.charts').screenshot({ path: join(SCREENSHOT_DIR, 'charts-batch-timeline.png') });
  });

  it('draws cluster utilisation on the overview with data for both nodes', async () => {
    const p = await page('/');
    for (const node of ['ws1', 'ws2']) {
      // a function, not a string: the page's CSP forbids eval, which a string predicate needs
      await p.waitForFunction(
        (n) => Number((globalThis as unknown as { document: { querySelector(s: string): { getAttribute(a: string): string | null } | null } }).document.querySelector(`#utilisation path.usage-area[data-node="${n}"]`)?.getAttribute('data-busy-steps') ?? 0) > 0,
        node,
      );
    }
    await p.locator('#utilisation .range button', { hasText: 'day' }).click();
    await p.locator('#utilisation .range button[aria-pressed="true"]', { hasText: 'day' }).waitFor();
    await p.locator('#utilisation path.usage-area[data-node="ws2"]').waitFor();
    await p.locator('#utilisation .range button', { hasText: 'last hour' }).click();
    await p.locator('#utilisation .range button[aria-pressed="true"]', { hasText: 'last hour' }).waitFor();
    await screenshot(p, 'charts-overview');
    await p.locator('#utilisation').screenshot({ path: join(SCREENSHOT_DIR, 'charts-utilisation.png') });
    assert.deepEqual(errors, []);
  });

  it('gives the same samples as JSON at /v1/usage?since=', async () => {
    const res = await fetch(`${httpUrl()}/v1/usage?since=10m`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const u = (await res.json()) as Usage;
    assert.equal(u.step_ms, 1000);
    assert.ok(u.until - u.since >= 600_000 - 1000);
    assert.deepEqual(u.nodes.map((n) => [n.name, n.cpus]), [['ws1', 2], ['ws2', 2]]);
    for (const n of u.nodes) {
      assert.ok(n.samples.some((s) => s.busy > 0 && s.peak >= 1), `${n.name} was busy`);
      assert.ok(n.samples.every((s) => s.busy <= 2 && s.peak <= 2 && s.at % 1000 === 0), `${n.name}: samples within its 2 cpus, on the second: ${JSON.stringify(n.samples)}`);
    }
    const bad = await fetch(`${httpUrl()}/v1/usage?since=yesterday`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(bad.status, 400);
    assert.equal((await fetch(`${httpUrl()}/v1/usage`)).status, 401);
  });
});
