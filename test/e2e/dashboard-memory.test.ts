// The batch page's memory bars in a real headless Chromium, over a real store whose attempts
// carry the usage their result.json reported (migration 8): each job's peak against what it
// asked, an out-of-memory kill marked, unmeasured jobs said so, and the batch's seff-style line.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { createToken } from '../../head/tokens.js';
import { browserSkip, launchBrowser, SCREENSHOT_DIR, watchPageErrors } from '../helpers/browser.js';
import { startDashboardServer, type DashboardServer } from '../head/dashboard/server.js';
import { seedBatch, seedNode, setJobState } from '../head/dashboard/seed.js';

const M = 2 ** 20;
const G = 2 ** 30;

/** The filled part's width over the outline's, for one job's bar, as the browser laid them out. */
async function barRatio(page: Page, job: string): Promise<number> {
  return page.locator(`tr[data-job="${job}"] .mem`).evaluate((bar) => {
    const track = bar.querySelector('.mem-track')!;
    const fill = bar.querySelector('.mem-fill')!;
    return fill.getBoundingClientRect().width / track.getBoundingClientRect().width;
  });
}

describe('dashboard memory bars in a browser', { skip: browserSkip() }, () => {
  let srv: DashboardServer;
  let browser: Browser;
  let alice: string;

  before(async () => {
    srv = await startDashboardServer();
    alice = createToken(srv.store, { kind: 'user', name: 'alice' });
    seedNode(srv.store, { name: 'ws-anna', cpus: 16, memory: 64 * G });
    seedNode(srv.store, { name: 'ws-bert', cpus: 8, memory: 32 * G });
    const peaks = [212, 180, 640, 1536, 305, 250];
    seedBatch(srv.store, {
      namespace: 'cylinder',
      owner: 'alice',
      name: 'mem_sweep',
      jobs: [
        ...peaks.map((p, i) => ({ name: `re_${100 + 10 * i}`, state: 'done' as const, node: i % 2 ? 'ws-anna' : 'ws-bert', exitCode: 0, memory: 2 * G, peak: p * M, cpuSeconds: 40 + i })),
        { name: 're_160', state: 'failed', node: 'ws-anna', exitCode: 137, memory: 256 * M, peak: 256 * M, error: 'out of memory: peak 256.0M, limit 256M' },
        { name: 're_170', state: 'done', node: 'ws-bert', exitCode: 0, memory: 2 * G },
        { name: 're_180', state: 'done', node: 'ws-bert', exitCode: 0, peak: 90 * M },
        { name: 're_190', state: 'running', node: 'ws-anna', memory: 2 * G },
        // no cgroup to hold it (process groups): it used more than it asked
        { name: 're_200', state: 'done', node: 'ws-bert', exitCode: 0, memory: 256 * M, peak: 320 * M },
      ],
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    srv?.close();
  });

  it('draws each job\'s peak against its ask, marks the out-of-memory kill, says which were not measured, and gives the batch\'s line', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const errors = watchPageErrors(page);
    await page.goto(`${srv.base}/?token=${alice}`);
    await page.waitForURL(`${srv.base}/`);
    await page.goto(`${srv.base}/batches/cylinder/mem_sweep`);
    await page.locator('tr[data-job="re_100"] .mem').waitFor();

    // the filled part is peak / asked of the outline: 212M of 2G, 1536M of 2G
    const small = await barRatio(page, 're_100');
    const large = await barRatio(page, 're_130');
    assert.ok(Math.abs(small - 212 / 2048) < 0.02, `re_100's bar fills ${small}, want ${212 / 2048}`);
    assert.ok(Math.abs(large - 1536 / 2048) < 0.02, `re_130's bar fills ${large}, want ${1536 / 2048}`);
    assert.ok(Math.abs(large / small - 1536 / 212) < 0.5, `the bars' ratio ${large / small} is the peaks' ${1536 / 212}`);

    // the numbers in words, for a screen reader and on hover
    const bar = page.locator('tr[data-job="re_100"] .mem');
    assert.equal(await bar.getAttribute('role'), 'img');
    assert.equal(await bar.getAttribute('aria-label'), 'peak 212.0M of 2G asked (10%)');
    assert.equal(await bar.locator('.mem-text').textContent(), '212.0M / 2G');

    const oom = page.locator('tr[data-job="re_160"] .mem');
    assert.equal(await oom.getAttribute('data-oom'), '');
    assert.equal(await oom.getAttribute('aria-label'), 'out of memory: peak 256.0M of 256M asked (100%)');
    assert.match((await oom.locator('.mem-text').textContent())!, /256\.0M \/ 256M · out of memory/);
    assert.ok((await barRatio(page, 're_160')) > 0.98, 'a job killed at its limit fills its outline');
    assert.equal(await page.locator('.mem[data-oom]').count(), 1);

    assert.equal(await page.locator('tr[data-job="re_170"] .mem-none').textContent(), 'not measured');
    assert.equal(await page.locator('tr[data-job="re_170"] .mem-none').getAttribute('title'), 'not measured (2G asked)');
    assert.equal(await page.locator('tr[data-job="re_190"] .mem-none').textContent(), 'not measured');
    assert.equal(await page.locator('tr[data-job="re_180"] .mem').count(), 0, 'no ask, no outline to scale by');
    assert.equal(await page.locator('tr[data-job="re_180"] .mem-text').textContent(), '90.0M');

    // above its ask: the outline is full and marked, the words say by how much
    const over = page.locator('tr[data-job="re_200"] .mem');
    assert.equal(await over.getAttribute('data-over'), '');
    assert.equal(await over.getAttribute('aria-label'), 'peak 320.0M of 256M asked (125%)');
    assert.ok((await barRatio(page, 're_200')) > 0.98);
    assert.equal(await page.locator('.mem[data-over]').count(), 1);

    // the status command's line: 8 jobs with an ask measured, (212+180+640+1536+305+250)/2048, 256/256 and 320/256
    const mean = Math.round((100 * ([212, 180, 640, 1536, 305, 250].reduce((a, p) => a + p / 2048, 0) + 1 + 320 / 256)) / 8);
    assert.equal(
      await page.locator('.memory-hint').textContent(),
      `memory: 8 jobs measured, peak ${mean}% of what they asked on average, 125% at most (largest peak 1.5G); some reached their limit: ask for more, or set memory_retry`,
    );

    // live: the running job's result arrives with its usage, as the head archives it: the bar
    // and the line are redrawn without a reload
    await page.evaluate('window.marker = 5');
    setJobState(srv.store, 'cylinder', 'mem_sweep', 're_190', 'done', 0);
    srv.store.tx(() =>
      srv.store.stmt(`UPDATE attempts SET peak_memory = ?, wall_seconds = 2 WHERE job_id = (SELECT id FROM jobs WHERE name = 're_190')`).run(1024 * M),
    );
    srv.dash.changed();
    await page.locator('tr[data-job="re_190"] .mem').waitFor();
    assert.ok(Math.abs((await barRatio(page, 're_190')) - 0.5) < 0.02);
    assert.match((await page.locator('.memory-hint').textContent())!, /^memory: 9 jobs measured, /);
    assert.equal(await page.evaluate('window.marker'), 5, 'the page was not reloaded');

    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await page.locator('main').screenshot({ path: join(SCREENSHOT_DIR, 'page-batch-memory.png') });
    // docs/images/batch-memory.png is this one: the line and the bars, with no room between
    for (const between of ['.charts', '.filters']) await page.locator(between).evaluate((el) => ((el as unknown as { style: { display: string } }).style.display = 'none'));
    const top = (await page.locator('.memory-hint').boundingBox())!;
    const table = (await page.locator('table.jobs').boundingBox())!;
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'batch-memory.png'), clip: { x: table.x, y: top.y - 6, width: table.width, height: table.y + table.height - top.y + 8 } });
    assert.deepEqual(errors, [], 'no script error, no CSP violation');
    await context.close();
  });
});
