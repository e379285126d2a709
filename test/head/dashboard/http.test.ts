import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type Server, type IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { openStore, type Store } from '../../../head/store.js';
import { startDashboardServer, type DashboardServer } from './server.js';
import { createToken } from '../../../head/tokens.js';
import { Dashboard } from '../../../head/dashboard/index.js';
import { silentLogger } from '../../../shared/log.js';
import { tempDir } from '../../helpers/cli.js';
import { seedBatch, seedNode, setJobState } from './seed.js';
import { openEvents } from './sse.js';
import type { DashboardView } from '../../../head/dashboard/view.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; ca?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { method: opts.method ?? 'GET', headers: opts.headers, ca: opts.ca }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(String((server.address() as AddressInfo).port))));
}

/** Waits for a condition, checked each time the event loop comes round (no fixed sleeps). */
async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const form = (token: string) => ({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `token=${encodeURIComponent(token)}` });

describe('dashboard over HTTP', () => {
  let srv: DashboardServer;
  let store: Store;
  let dash: Dashboard;
  let base: string;
  let alice: string;
  let bob: string;
  let node: string;

  before(async () => {
    srv = await startDashboardServer();
    ({ store, dash, base } = srv);
    alice = createToken(store, { kind: 'user', name: 'alice' });
    bob = createToken(store, { kind: 'user', name: 'bob' });
    node = createToken(store, { kind: 'node', name: 'ws1' });
    seedNode(store, { name: 'ws1' });
    seedBatch(store, { namespace: 'cfd', owner: 'alice', name: 'sweep', jobs: [{ name: 'a', state: 'running', node: 'ws1' }, { name: 'b', state: 'queued' }] });
    seedBatch(store, { namespace: 'bobs_ns', owner: 'bob', name: 'private', jobs: [{ name: 'z', state: 'queued' }] });
  });
  after(() => srv.close());

  it('answers the login form with 401 to a browser without a token', async () => {
    const r = await request(`${base}/`);
    assert.equal(r.status, 401);
    assert.match(r.body, /<form method="post" action="\/login"/);
    assert.doesNotMatch(r.body, /class="error"/);
  });

  it('refuses a wrong token in the link with 401 and the form with an error', async () => {
    const r = await request(`${base}/?token=not-a-token-anyone-has`);
    assert.equal(r.status, 401);
    assert.match(r.body, /class="error"[^>]*>That token is not valid here\./);
    assert.match(String(r.headers['set-cookie']), /distribute_token=; .*Max-Age=0/);
  });

  it('takes a token from the link into an HttpOnly SameSite=Lax cookie with a 303 to /', async () => {
    const r = await request(`${base}/?token=${alice}`);
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/');
    const cookie = String(r.headers['set-cookie']);
    assert.match(cookie, new RegExp(`^distribute_token=${alice}; HttpOnly; SameSite=Lax; Path=/; Max-Age=\\d+$`));
    assert.doesNotMatch(cookie, /Secure/, 'plain http on loopback: no Secure flag');
    assert.doesNotMatch(r.body, /refresh/);
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(r.headers['cache-control'], 'no-store');
  });

  it('serves the app to the cookie, under a script policy with no inline code', async () => {
    const r = await request(`${base}/`, { headers: { Cookie: `other=1; distribute_token=${alice}` } });
    assert.equal(r.status, 200);
    assert.match(r.body, /<script type="module" src="\/assets\/app.js">/);
    assert.match(String(r.headers['content-security-policy']), /script-src 'self';/);
    const page = await request(`${base}/batches/cfd/sweep`, { headers: { Cookie: `distribute_token=${alice}` } });
    assert.equal(page.status, 200);
    const js = await request(`${base}/assets/app.js`);
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.equal((await request(`${base}/assets/app.js`, { headers: { 'If-None-Match': String(js.headers.etag) } })).status, 304);
    assert.equal((await request(`${base}/assets/../store.ts`)).status, 404);
  });

  it('logs in by the form: 303 to / with the cookie; a wrong token gets 401 and the form again', async () => {
    const ok = await request(`${base}/login`, form(alice));
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.location, '/');
    assert.match(String(ok.headers['set-cookie']), /^distribute_token=.*HttpOnly; SameSite=Lax; Path=\//);
    const bad = await request(`${base}/login`, form('wrong'));
    assert.equal(bad.status, 401);
    assert.match(bad.body, /That token is not valid here/);
    const nodeToken = await request(`${base}/login`, form(node));
    assert.equal(nodeToken.status, 403);
    assert.match(nodeToken.body, /node token/);
    const crossSite = await request(`${base}/login`, { ...form(alice), headers: { ...form(alice).headers, Origin: 'https://evil.example' } });
    assert.equal(crossSite.status, 403);
    const fetchSite = await request(`${base}/login`, { ...form(alice), headers: { ...form(alice).headers, 'Sec-Fetch-Site': 'cross-site', Origin: 'null' } });
    assert.equal(fetchSite.status, 403);
    const out = await request(`${base}/logout`, { method: 'POST', headers: { Origin: base } });
    assert.equal(out.status, 303);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
  });

  it('refuses the event stream without a user token', async () => {
    assert.equal((await request(`${base}/v1/events`)).status, 401);
    assert.deepEqual(JSON.parse((await request(`${base}/v1/events`, { headers: { Cookie: 'distribute_token=nope' } })).body), { error: 'unknown token' });
    assert.equal((await request(`${base}/v1/events`, { headers: { Authorization: `Bearer ${node}` } })).status, 403);
    const bad = await request(`${base}/v1/events?namespace=cfd`, { headers: { Authorization: `Bearer ${alice}` } });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /namespace and batch go together/);
  });

  it('pushes the view at once, then again when state changes, and nothing when it did not', async () => {
    const es = await openEvents(`${base}/v1/events`, { Cookie: `distribute_token=${alice}` });
    try {
      assert.equal(es.status, 200);
      assert.match(String(es.headers['content-type']), /^text\/event-stream/);
      const first = await es.next();
      assert.equal(first.event, 'view');
      const view = JSON.parse(first.data) as DashboardView;
      assert.deepEqual(view.batches.map((b) => [b.name, b.counts.running, b.counts.done]), [['sweep', 1, 0]]);

      const pushes = dash.hub.pushes;
      dash.changed(); // nothing changed in the store
      await until('a push', () => dash.hub.pushes > pushes);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(es.pending(), 0, 'an unchanged view is not sent again');

      setJobState(store, 'cfd', 'sweep', 'a', 'done', 0);
      dash.changed();
      const second = JSON.parse((await es.next()).data) as DashboardView;
      assert.deepEqual(second.batches.map((b) => [b.name, b.counts.running, b.counts.done]), [['sweep', 0, 1]]);
      assert.equal(second.nodes[0]!.state, 'idle');
    } finally {
      es.close();
    }
  });

  it('folds a burst of changes into at most 4 pushes a second', async () => {
    const es = await openEvents(`${base}/v1/events`, { Authorization: `Bearer ${alice}` });
    try {
      await es.next();
      const pushes = dash.hub.pushes;
      const started = Date.now();
      // 40 changes over one second, each one real (the queued job flips back and forth)
      for (let i = 0; i < 40; i++) {
        setJobState(store, 'cfd', 'sweep', 'b', i % 2 ? 'queued' : 'cancelled');
        dash.changed();
        await new Promise((r) => setTimeout(r, 25));
      }
      await until('the trailing push', () => Date.now() - started > 1300);
      const done = dash.hub.pushes - pushes;
      assert.ok(done >= 3 && done <= 6, `${done} pushes for 40 changes in ${Date.now() - started} ms`);
      setJobState(store, 'cfd', 'sweep', 'b', 'queued');
    } finally {
      es.close();
    }
  });

  it('streams one batch\'s jobs through a filter, and nothing of a batch that is not the viewer\'s', async () => {
    const es = await openEvents(`${base}/v1/events?namespace=cfd&batch=sweep&state=queued`, { Authorization: `Bearer ${alice}` });
    const view = JSON.parse((await es.next()).data) as DashboardView;
    es.close();
    assert.deepEqual(view.batch!.jobs.map((j) => j.name), ['b']);
    const other = await openEvents(`${base}/v1/events?namespace=bobs_ns&batch=private`, { Authorization: `Bearer ${alice}` });
    const refused = JSON.parse((await other.next()).data) as DashboardView;
    other.close();
    assert.equal(refused.batch, null);
    assert.doesNotMatch(JSON.stringify(refused), /bobs_ns|private/);
  });

  it('ends the streams of a token that is revoked', async () => {
    const carol = createToken(store, { kind: 'user', name: 'carol' });
    const es = await openEvents(`${base}/v1/events`, { Cookie: `distribute_token=${carol}` });
    await es.next();
    store.tx(() => store.stmt("DELETE FROM tokens WHERE name = 'carol'").run());
    setJobState(store, 'cfd', 'sweep', 'b', 'queued');
    dash.changed();
    assert.equal((await es.next()).event, 'logout');
    await es.ended;
  });

  it('hands the stderr of a job only to the owner of its namespace', async () => {
    const mine = await request(`${base}/v1/dashboard/stderr/cfd/sweep/a`, { headers: { Authorization: `Bearer ${alice}` } });
    assert.equal(mine.status, 404);
    assert.match(mine.body, /no stderr archived for cfd\/sweep\/a/);
    const theirs = await request(`${base}/v1/dashboard/stderr/bobs_ns/private/z`, { headers: { Authorization: `Bearer ${alice}` } });
    assert.equal(theirs.status, 404);
    assert.match(theirs.body, /that you can see/);
    assert.equal((await request(`${base}/v1/dashboard/stderr/bobs_ns/private/z`, { headers: { Authorization: `Bearer ${bob}` } })).status, 404);
  });
});

describe('dashboard under TLS', () => {
  it('marks the cookie Secure', async () => {
    const t = tempDir();
    const store = openStore(t.dir);
    const dash = new Dashboard({ store, stateDir: t.dir, log: silentLogger() });
    try {
      const token = createToken(store, { kind: 'user', name: 'alice' });
      const key = join(t.dir, 'key.pem');
      const cert = join(t.dir, 'cert.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
      const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
        if (!dash.handle(req, res)) res.writeHead(404).end();
      });
      const port = await listen(server as unknown as Server);
      const r = await request(`https://127.0.0.1:${port}/?token=${token}`, { ca: readFileSync(cert, 'utf8') });
      server.closeAllConnections();
      server.close();
      assert.equal(r.status, 303);
      assert.match(String(r.headers['set-cookie']), /; HttpOnly; SameSite=Lax; Path=\/; Max-Age=\d+; Secure$/);
    } finally {
      dash.close();
      store.close();
      t.cleanup();
    }
  });
});
