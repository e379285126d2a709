// What `add` checks of a posted batch before it touches the database: the body as JSON, the
// request's shape, and the batch itself (the document, or the YAML of an older client) with
// the same rules as `distribute validate`; then the batch as the head stores it
// (batch-prepare.ts). Pure and synchronous: it runs in the batch parser's worker thread
// (batch-parse-worker.ts), never on the head's event loop.
import { AddRequest } from '../shared/protocol/api.js';
import { checkBatchDocument } from '../shared/spec/document.js';
import { formatSpecError, parseBatch } from '../shared/spec/parse.js';
import type { BatchSpec } from '../shared/spec/types.js';
import { prepareBatch, type PreparedBatch } from './batch-prepare.js';
import { HttpError, parseJsonBody } from './http.js';

/** The request without its document: what the handler needs besides the checked batch. */
export type AddFields = Omit<AddRequest, 'document' | 'yaml'>;

export type BatchCheck =
  | { ok: true; fields: AddFields; prepared: PreparedBatch }
  | { ok: false; status: number; error: string; extra: Record<string, unknown> };

export function checkAddBody(body: Uint8Array): BatchCheck {
  try {
    const request = parseJsonBody(body, AddRequest);
    const { document: _document, yaml: _yaml, ...fields } = request;
    return { ok: true, fields, prepared: prepareBatch(validBatch(request), fields.files, fields.file) };
  } catch (err) {
    if (err instanceof HttpError) return { ok: false, status: err.status, error: err.message, extra: err.extra };
    throw err;
  }
}

/** The batch of a request, validated; a 400 listing every problem when it is not valid. */
function validBatch(body: AddRequest): BatchSpec {
  let problems: string[];
  if (body.document !== undefined) {
    const checked = checkBatchDocument(body.document, { file: body.file, ...(body.dir !== undefined ? { dir: body.dir } : {}) });
    if (checked.ok) return checked.batch;
    problems = checked.problems;
  } else {
    const parsed = parseBatch(body.yaml ?? '', { file: body.file, checkFiles: false });
    if (parsed.ok) return parsed.batch;
    problems = parsed.errors.map(formatSpecError);
  }
  throw new HttpError(400, `${body.file} is not a valid batch (${problems.length} problem${problems.length === 1 ? '' : 's'})`, { problems });
}
