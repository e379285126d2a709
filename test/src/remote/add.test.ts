import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { prepareAdd, sendAdd } from '../../../src/remote/add.js';
import { HeadClient, resolveConnection } from '../../../src/client.js';
import { HttpError, readJson, sendJson } from '../../../head/http.js';
import { UserError } from '../../../shared/errors.js';
import { REPO_ROOT } from '../../helpers/cli.js';

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('prepareAdd', () => {
  it('names every file by its path relative to the YAML, each path once, with its hash and size', async () => {
    const file = join(REPO_ROOT, 'configs', 'python-batch.yaml');
    const p = await prepareAdd(file);
    assert.deepEqual(Object.keys(p.files).sort(), ['python/build.py', 'python/re_100.json', 'python/re_200.json', 'python/re_300.json', 'python/run.py']);
    const run = join(REPO_ROOT, 'configs', 'python', 'run.py');
    assert.deepEqual(p.files['python/run.py'], { hash: sha(run), size: readFileSync(run).length });
    assert.equal(p.byHash.get(sha(run))?.path, run);
    assert.equal(p.text, readFileSync(file, 'utf8'));
    // what the head is sent to validate again: the YAML as data, unexpanded
    assert.deepEqual(p.document, parse(p.text));
  });

  it('refuses an invalid batch with every problem, before any network', async () => {
    await assert.rejects(prepareAdd(join(REPO_ROOT, 'configs', 'no-such.yaml')), (e: unknown) => e instanceof UserError && e.exitCode === 2);
  });
});

/**
 * A head from before batch documents, as far as POST /v1/batches goes: the request schema it
 * had (the YAML text required), checked by the head's own readJson; the requests it was sent.
 */
async function yamlOnlyHead(): Promise<{ url: string; bodies: Record<string, unknown>[]; close: () => void }> {
  const OldAddRequest = z.object({ yaml: z.string(), file: z.string(), files: z.record(z.string(), z.unknown()), dry: z.boolean().default(false) });
  const bodies: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d));
    req.on('end', () => {
      bodies.push(JSON.parse(raw) as Record<string, unknown>);
      const again = Readable.from([Buffer.from(raw)]) as unknown as IncomingMessage;
      again.headers = req.headers;
      readJson(again, OldAddRequest).then(
        () => sendJson(res, 200, { namespace: 'lab', batch: 'sweep', jobs: 3, feasibleNodes: ['ws1'], knownNodes: 1, dry: false }),
        (err: HttpError) => sendJson(res, err.status, { error: err.message }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, close: () => server.close() };
}

describe('sendAdd', () => {
  it('sends the batch as a document, and to a head from before documents its text instead', async () => {
    const head = await yamlOnlyHead();
    try {
      const p = await prepareAdd(join(REPO_ROOT, 'configs', 'shell-batch.yaml'));
      const client = new HeadClient(resolveConnection({ head: head.url, token: 't' }, {}, '/nonexistent'));
      const outcome = await sendAdd(client, p, { dry: false });
      // a head from before documents refuses the first request, and gets the text instead
      assert.equal(head.bodies.length, 2);
      assert.deepEqual(head.bodies[0]!.document, p.document);
      assert.equal(head.bodies[0]!.yaml, undefined);
      assert.equal(head.bodies[1]!.document, undefined);
      assert.equal(head.bodies[1]!.yaml, p.text);
      assert.equal(outcome.response.jobs, 3);
    } finally {
      head.close();
    }
  });
});
