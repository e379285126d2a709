// Input files by content hash: which are missing, upload one (streamed, verified), fetch one.
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MissingInputsRequest } from '../../shared/protocol/api.js';
import { Sha256 } from '../../shared/protocol/common.js';
import { HttpError, readJson, sendJson } from '../http.js';
import { missingInputs, storeInput } from '../inputs.js';
import type { Route } from './route.js';

function hashParam(raw: string | undefined): string {
  if (!Sha256.safeParse(raw).success) throw new HttpError(400, `"${raw}" is not a hex SHA-256`);
  return raw!;
}

export const inputsMissing: Route = {
  method: 'POST',
  path: /^\/v1\/inputs\/missing$/,
  who: 'user',
  async handle(call) {
    const body = await readJson(call.req, MissingInputsRequest);
    sendJson(call.res, 200, { missing: missingInputs(call.ctx.store, body.hashes) });
  },
};

export const inputPut: Route = {
  method: 'PUT',
  path: /^\/v1\/inputs\/(?<hash>[^/]+)$/,
  who: 'user',
  async handle(call) {
    const hash = hashParam(call.params.hash);
    const result = await storeInput(call.ctx.store, call.ctx.settings.stateDir, hash, call.req);
    if (!result.ok) {
      call.ctx.log.warn({ event: 'input_refused', user: call.principal.name, hash, actual: result.actual }, 'uploaded bytes do not match their hash');
      throw new HttpError(400, `the uploaded ${result.size} bytes hash to ${result.actual}, not ${hash}`);
    }
    if (!result.existed) call.ctx.log.info({ event: 'input_stored', user: call.principal.name, hash, size: result.size }, 'input stored');
    sendJson(call.res, 201, { hash, size: result.size });
  },
};

export const inputGet: Route = {
  method: 'GET',
  path: /^\/v1\/inputs\/(?<hash>[^/]+)$/,
  who: 'any',
  async handle(call) {
    const hash = hashParam(call.params.hash);
    const row = call.ctx.store.input(hash);
    if (!row) throw new HttpError(404, `no input ${hash}`);
    call.res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': row.size });
    await pipeline(createReadStream(join(call.ctx.settings.stateDir, row.path)), call.res);
  },
};
