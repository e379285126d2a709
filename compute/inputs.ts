// Input files on a node, cached by content hash at `<work_dir>/.inputs/<sha256>`: each file
// is fetched from the head once (`GET /v1/inputs/:hash`), checked against its hash while it
// streams to a temporary file, then renamed into place, so the cache holds only whole,
// verified files. Jobs asking for one hash at the same time share one download.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { errorMessage } from '../shared/errors.js';
import { silentLogger, type Logger } from '../shared/log.js';
import { authorization, fetchFailure, headFetch, type HeadEndpoint } from '../shared/head-http.js';
import { fetchBatchResults } from './finalize-inputs.js';
import { API, pathFor } from '../shared/protocol/http-api.js';

const HASH = /^[0-9a-f]{64}$/;

export class InputCache {
  private readonly inflight = new Map<string, Promise<string>>();
  private tmpCounter = 0;

  constructor(
    readonly dir: string,
    private readonly head: HeadEndpoint,
    private readonly log: Logger = silentLogger(),
  ) {}

  /** The archived results of the batch of a finalize attempt, extracted into `dest`. */
  batchResults(attempt: number, dest: string): Promise<{ files: number; skipped: number }> {
    return fetchBatchResults(this.head, attempt, dest);
  }

  /** Path of the verified local copy of the file with this hash, fetched on first need. */
  get(hash: string): Promise<string> {
    if (!HASH.test(hash)) return Promise.reject(new Error(`input hash "${hash}" is not a hex SHA-256`));
    let p = this.inflight.get(hash);
    if (!p) {
      p = this.ensure(hash).finally(() => this.inflight.delete(hash));
      this.inflight.set(hash, p);
    }
    return p;
  }

  private async ensure(hash: string): Promise<string> {
    const path = join(this.dir, hash);
    if (await exists(path)) return path;
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.tmp-${hash}-${process.pid}-${this.tmpCounter++}`);
    const started = Date.now();
    try {
      const size = await this.download(hash, tmp);
      await rename(tmp, path);
      this.log.info({ event: 'input_fetched', hash, size, ms: Date.now() - started }, 'input fetched');
      return path;
    } catch (err) {
      await rm(tmp, { force: true });
      throw new Error(`cannot fetch input ${hash} from the head: ${errorMessage(err)}`);
    }
  }

  private async download(hash: string, tmp: string): Promise<number> {
    let res: Response;
    try {
      res = await headFetch(this.head.ca)(this.head.http + pathFor(API.inputGet, { hash }), { headers: authorization(this.head) });
    } catch (err) {
      throw new Error(fetchFailure(err));
    }
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      throw new Error(`the head answered ${res.status}${text ? `: ${text.slice(0, 300)}` : ''}`);
    }
    const digest = createHash('sha256');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        digest.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(res.body as ReadableStream), hashing, createWriteStream(tmp, { flags: 'wx' }));
    const got = digest.digest('hex');
    if (got !== hash) throw new Error(`received ${size} bytes whose SHA-256 is ${got}`);
    return size;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
