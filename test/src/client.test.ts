import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { HeadClient, resolveConnection } from '../../src/client.js';
import { API } from '../../shared/protocol/http-api.js';
import { UserError } from '../../shared/errors.js';
import { tempDir } from '../helpers/cli.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** a request body of the add route (the fake heads here do not read it) */
const ADD = { yaml: '', file: 'b.yaml', files: {} };

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

describe('resolveConnection', () => {
  const tmp = tempDir();
  const config = join(tmp.dir, 'distribute', 'config.yaml');
  before(() => {
    mkdirSync(join(tmp.dir, 'distribute'));
    writeFileSync(config, 'head: ws://file-host:8952\ntoken: file-token\n');
  });
  after(() => tmp.cleanup());

  it('takes flags first, then the environment, then the user config', () => {
    const env = { DISTRIBUTE_HEAD: 'ws://env-host:1', DISTRIBUTE_TOKEN: 'env-token' };
    assert.deepEqual(
      [resolveConnection({ head: 'ws://flag-host:2', token: 'flag-token' }, env, config)].map((c) => [c.http, c.token]),
      [['http://flag-host:2', 'flag-token']],
    );
    const fromEnv = resolveConnection({}, env, config);
    assert.equal(fromEnv.http, 'http://env-host:1');
    assert.equal(fromEnv.token, 'env-token');
    const fromFile = resolveConnection({}, {}, config);
    assert.equal(fromFile.http, 'http://file-host:8952');
    assert.equal(fromFile.token, 'file-token');
    const mixed = resolveConnection({ token: 'flag-token' }, {}, config);
    assert.equal(mixed.http, 'http://file-host:8952');
    assert.equal(mixed.token, 'flag-token');
  });

  it('turns wss:// into https://', () => {
    assert.equal(resolveConnection({ head: 'wss://h:9', token: 't' }, {}, config).http, 'https://h:9');
  });

  it('says where to put the head when there is none', () => {
    assert.throws(
      () => resolveConnection({}, {}, join(tmp.dir, 'nope.yaml')),
      (e: unknown) => e instanceof UserError && e.exitCode === 2 && /no head to talk to.*DISTRIBUTE_HEAD/.test(e.message),
    );
  });
});

describe('HeadClient', () => {
  let server: Server;
  let handler: Handler = (_req, res) => send(res, 404, { error: 'no handler' });
  let url = '';
  const tmp = tempDir();
  before(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    tmp.cleanup();
  });
  const client = (token = 'good') => new HeadClient(resolveConnection({ head: url, token }, {}, '/nonexistent'));

  it('sends the bearer token and validates the answer', async () => {
    let auth: string | undefined;
    let asked = '';
    handler = (req, res) => {
      auth = req.headers.authorization;
      asked = `${req.method} ${req.url}`;
      send(res, 200, { name: 'ada', kind: 'user', admin: false });
    };
    const who = await client().call(API.whoami);
    assert.equal(who.name, 'ada');
    assert.equal(auth, 'Bearer good');
    assert.equal(asked, 'GET /v1/whoami');
  });

  it('refuses an answer of the wrong shape, naming the request', async () => {
    handler = (_req, res) => send(res, 200, { name: 3 });
    await assert.rejects(client().call(API.whoami), /answered GET \/v1\/whoami in an unexpected shape \(name:/);
  });

  it('explains a refused token (401) as bad input', async () => {
    handler = (_req, res) => send(res, 401, { error: 'unknown token' });
    await assert.rejects(client('bad').call(API.status), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /refused the token \(unknown token\)/);
      return true;
    });
  });

  it('passes 403 and 409 messages through', async () => {
    handler = (_req, res) => send(res, 403, { error: 'namespace lab belongs to bob' });
    await assert.rejects(client().call(API.add, { body: ADD }), { message: 'namespace lab belongs to bob' });
    handler = (_req, res) => send(res, 409, { error: 'batch b is in namespaces x and y; pass --namespace' });
    await assert.rejects(client().call(API.resolve, { query: { batch: 'b' } }), { message: 'batch b is in namespaces x and y; pass --namespace' });
  });

  it('prints every problem of a refused batch', async () => {
    handler = (_req, res) => send(res, 400, { error: 'invalid batch', problems: ['b.yaml:1:1: meta: required', 'b.yaml:2:3: x: unknown'] });
    await assert.rejects(client().call(API.add, { body: ADD }), (e: unknown) => {
      assert.ok(e instanceof UserError && e.exitCode === 2);
      assert.deepEqual(e.message.split('\n'), ['invalid batch', 'b.yaml:1:1: meta: required', 'b.yaml:2:3: x: unknown']);
      return true;
    });
  });

  it('calls a server error a failure (exit 1)', async () => {
    handler = (_req, res) => send(res, 500, { error: 'disk full' });
    await assert.rejects(client().call(API.status), (e: unknown) => e instanceof UserError && e.exitCode === 1 && /failed on GET \/v1\/status \(500\): disk full/.test(e.message));
  });

  it('streams an upload with its length and the same bytes', async () => {
    const file = join(tmp.dir, 'blob');
    const data = Buffer.alloc(3 * 1024 * 1024 + 7, 'x');
    writeFileSync(file, data);
    let got: { length: string | undefined; hash: string; method: string | undefined; url: string | undefined } | null = null;
    handler = (req, res) => {
      const h = createHash('sha256');
      req.on('data', (c: Buffer) => h.update(c));
      req.on('end', () => {
        got = { length: req.headers['content-length'], hash: h.digest('hex'), method: req.method, url: req.url };
        send(res, 201, { hash: got.hash, size: data.length });
      });
    };
    const hash = createHash('sha256').update(data).digest('hex');
    assert.deepEqual(await client().upload(API.inputPut, { hash }, file), { hash, size: data.length });
    assert.deepEqual(got, { length: String(data.length), hash, method: 'PUT', url: `/v1/inputs/${hash}` });
  });

  it('refuses an upload answer of the wrong shape', async () => {
    const file = join(tmp.dir, 'small');
    writeFileSync(file, 'x');
    handler = (req, res) => req.resume().on('end', () => send(res, 201, {}));
    await assert.rejects(client().upload(API.inputPut, { hash: 'a'.repeat(64) }, file), /answered PUT \/v1\/inputs\/a{64} in an unexpected shape/);
  });

  it('names the head and the reason when it cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const c = new HeadClient(resolveConnection({ head: `ws://127.0.0.1:${port}`, token: 't' }, {}, '/nonexistent'));
    await assert.rejects(c.call(API.status), (e: unknown) => {
      assert.ok(e instanceof UserError && e.exitCode === 1);
      assert.equal(e.message, `cannot reach the head at ws://127.0.0.1:${port}: ECONNREFUSED — is \`distribute head\` running?`);
      return true;
    });
  });
});
