// The batch parser's worker thread: checks one posted batch body at a time (batch-check.ts)
// and answers with the result, so a large or pathological document costs this thread's time,
// not the head's event loop (batch-parser.ts starts it).
import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../shared/errors.js';
import { checkAddBody, type BatchCheck } from './batch-check.js';

export interface ParseRequest {
  id: number;
  body: Uint8Array;
}

export interface ParseAnswer {
  id: number;
  result: BatchCheck;
}

parentPort!.on('message', (m: ParseRequest) => {
  let result: BatchCheck;
  try {
    result = checkAddBody(m.body);
  } catch (err) {
    result = { ok: false, status: 500, error: `the head could not check the batch: ${errorMessage(err)}`, extra: {} };
  }
  // the jobs' buffers are moved, not copied (batch-prepare.ts)
  parentPort!.postMessage({ id: m.id, result } satisfies ParseAnswer, result.ok ? result.prepared.chunks.map((c) => c.buffer as ArrayBuffer) : []);
});
