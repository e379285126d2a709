// Input files by content hash: which are missing, upload one (streamed, verified), fetch one.
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Sha256 } from '../../shared/protocol/common.js';
import { errorMessage } from '../../shared/errors.js';
import { HttpError } from '../http.js';
import { isDiskFull } from '../state-dir-space.js';
import { missingInputs, recordHolder, storeInput, visibleInput } from '../inputs.js';
import type { Api } from '../../shared/protocol/http-api.js';
import type { ApiCall, Handler } from './route.js';

/** Whose inputs the caller may see: a node or an admin every one (null), a user those they hold. */
function viewer(call: ApiCall): string | null {
  return call.principal.kind === 'node' || call.principal.admin ? null : call.principal.name;
}

function hashParam(raw: string | undefined): string {
  if (!Sha256.safeParse(raw).success) throw new HttpError(400, `"${raw}" is not a hex SHA-256`);
  return raw!;
}

export const inputsMissing: Handler<Api['inputsMissing']> = {
  async handle(call) {
    const body = await call.body();
    call.reply({ missing: missingInputs(call.ctx.store, body.hashes, viewer(call)) });
  },
};

export const inputPut: Handler<Api['inputPut']> = {
  async handle(call) {
    const hash = hashParam(call.params.hash);
    let result;
    try {
      result = await storeInput(call.ctx.store, call.ctx.settings.stateDir, hash, call.req);
    } catch (err) {
      // as a result upload (head/result-intake.ts): a full state dir is a clear 507, logged once per episode
      if (!(call.ctx.space?.failed(err, { user: call.principal.name, input: hash }) ?? isDiskFull(err))) throw err;
      call.ctx.log.warn({ event: 'input_write_failed', user: call.principal.name, hash, full: true, err: errorMessage(err) }, `state dir full: input ${hash} was not stored`);
      throw new HttpError(507, `the head's state dir is full (${errorMessage(err)}): input ${hash} was not stored; try again when an admin has made room`);
    }
    if (!result.ok) {
      call.ctx.log.warn({ event: 'input_refused', user: call.principal.name, hash, actual: result.actual }, 'uploaded bytes do not match their hash');
      throw new HttpError(400, `the uploaded ${result.size} bytes hash to ${result.actual}, not ${hash}`);
    }
    recordHolder(call.ctx.store, hash, call.principal.name);
    if (!result.existed) call.ctx.log.info({ event: 'input_stored', user: call.principal.name, hash, size: result.size }, 'input stored');
    call.reply({ hash, size: result.size });
  },
};

export const inputGet: Handler<Api['inputGet']> = {
  async handle(call) {
    const hash = hashParam(call.params.hash);
    // another user's input answers as if it did not exist: its hash is no proof of having it
    const row = visibleInput(call.ctx.store, hash, viewer(call));
    if (!row) throw new HttpError(404, `no input ${hash}`);
    call.res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': row.size });
    await pipeline(createReadStream(join(call.ctx.settings.stateDir, row.path)), call.res);
  },
};
