// Checks posted batch documents off the event loop. Parsing up to max_batch_bytes of YAML or
// JSON and checking every job takes seconds for a large or pathological document; done on the
// loop, every node's heartbeat and every other user's request would wait (docs/hostile-input.md).
// One worker thread (the head runs on machines of a few cores, and one batch at a time is
// plenty), a bounded queue, and a time limit per document after which the worker is replaced.
import { Worker } from 'node:worker_threads';
import { errorMessage } from '../shared/errors.js';
import type { BatchCheck } from './batch-check.js';
import type { ParseAnswer, ParseRequest } from './batch-parse-worker.js';
import { HttpError } from './http.js';

/** The longest one document may take to check before it is refused. */
export const BATCH_PARSE_TIMEOUT_MS = 30_000;
/** Documents that may wait for the worker; more are refused with 503. */
export const BATCH_PARSE_QUEUE = 16;
/** How long the worker stays after its last batch. */
export const BATCH_PARSER_IDLE_MS = 10_000;

interface Pending {
  id: number;
  body: Uint8Array;
  resolve: (r: BatchCheck) => void;
  reject: (err: Error) => void;
}

/** The worker, built (.js) or, when this file runs as TypeScript under tsx (tests), its .ts with tsx's loader. */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./batch-parse-worker.js', import.meta.url));
  const source = new URL('./batch-parse-worker.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); });`, { eval: true });
}

export class BatchParser {
  private worker: Worker | null = null;
  private current: (Pending & { timer: NodeJS.Timeout }) | null = null;
  private readonly waiting: Pending[] = [];
  private nextId = 1;

  private idle: NodeJS.Timeout | null = null;

  constructor(
    private readonly timeoutMs = BATCH_PARSE_TIMEOUT_MS,
    private readonly idleMs = BATCH_PARSER_IDLE_MS,
  ) {}

  /**
   * The body checked in the worker; rejects with an HttpError when it cannot be checked. A body
   * that is the whole of its own ArrayBuffer (as readBody returns a large one) is moved to the
   * worker, not copied: the caller must not use it afterwards.
   */
  check(body: Uint8Array): Promise<BatchCheck> {
    if (this.waiting.length >= BATCH_PARSE_QUEUE) {
      return Promise.reject(new HttpError(503, `the head is checking ${this.waiting.length + 1} other batches; try again in a moment`));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, body, resolve, reject });
      this.pump();
    });
  }

  /** Whether the worker thread is alive. */
  get running(): boolean {
    return this.worker !== null;
  }

  /** Stops the worker; documents not yet checked are refused. */
  async close(): Promise<void> {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    const stopping = new HttpError(503, 'the head is stopping');
    for (const p of this.waiting.splice(0)) p.reject(stopping);
    this.finish(null, stopping);
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private pump(): void {
    if (this.current) return;
    if (this.waiting.length === 0) return this.stopWhenIdle();
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    const next = this.waiting.shift()!;
    const worker = this.ensureWorker();
    const timer = setTimeout(() => {
      // a document that takes this long is refused, and the worker busy with it replaced
      this.finish(null, new HttpError(400, `the batch document took more than ${Math.round(this.timeoutMs / 1000)} s to check; split it into smaller batches, or use parameters: to describe many jobs`));
      this.replaceWorker();
    }, this.timeoutMs);
    this.current = { ...next, timer };
    // moved, not copied, to the worker: copying megabytes costs the loop tens of ms (a copy
    // first when the body shares its memory, e.g. a slice of a pooled buffer)
    const b = next.body;
    const own = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer ? b : new Uint8Array(b);
    worker.postMessage({ id: next.id, body: own } satisfies ParseRequest, [own.buffer as ArrayBuffer]);
  }

  private finish(result: BatchCheck | null, err?: Error): void {
    const cur = this.current;
    if (!cur) return;
    this.current = null;
    clearTimeout(cur.timer);
    if (result) cur.resolve(result);
    else cur.reject(err ?? new Error('batch check failed'));
    setImmediate(() => this.pump());
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker();
    worker.on('message', (m: ParseAnswer) => {
      if (this.worker === worker && this.current?.id === m.id) this.finish(m.result);
    });
    worker.on('error', (err) => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.finish(null, new HttpError(500, `the head's batch checker failed: ${errorMessage(err)}`));
    });
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.finish(null, new HttpError(500, "the head's batch checker stopped"));
    });
    worker.unref(); // an idle parser keeps no process alive (after the listeners, which ref it again)
    this.worker = worker;
    return worker;
  }

  /**
   * A worker that checked a large batch keeps the heap it grew (a 100,000-job batch: about a
   * hundred MB) for as long as it lives: an idle one is stopped, and the next batch starts one.
   */
  private stopWhenIdle(): void {
    if (this.idle || !this.worker) return;
    this.idle = setTimeout(() => {
      this.idle = null;
      if (!this.current && this.waiting.length === 0) this.replaceWorker();
    }, this.idleMs);
    this.idle.unref();
  }

  private replaceWorker(): void {
    const old = this.worker;
    this.worker = null;
    if (old) void old.terminate();
  }
}

let shared: BatchParser | null = null;

/** The head's one parser, started on the first batch posted. */
export function batchParser(): BatchParser {
  shared ??= new BatchParser();
  return shared;
}
