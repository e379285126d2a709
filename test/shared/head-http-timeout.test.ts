// Requests to the head time out when it accepts the connection and never answers (a stopped
// process, a full disk): an upload fails with ETIMEDOUT instead of hanging, and the node's spool
// keeps the result for its next try.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { putBody } from '../../shared/head-http.js';

/** A TCP server that accepts, reads what it is sent, and never answers. */
async function silentServer(): Promise<{ server: Server; url: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.resume();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

describe('requests to a head that never answers', () => {
  const servers: { server: Server; sockets: Socket[] }[] = [];
  after(() => {
    for (const s of servers) {
      for (const sock of s.sockets) sock.destroy();
      s.server.close();
    }
  });

  it('an upload fails with ETIMEDOUT once the connection has been idle for the bound', async () => {
    const s = await silentServer();
    servers.push(s);
    const t0 = Date.now();
    await assert.rejects(putBody(`${s.url}/v1/results/1`, {}, { data: Buffer.alloc(1000) }, null, 300), (err: NodeJS.ErrnoException) => err.code === 'ETIMEDOUT');
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 5000, `took ${took} ms`);
  });

  it('a streamed upload the head stops reading fails the same way', async () => {
    const s = await silentServer();
    servers.push(s);
    // the server reads nothing once it has the first bytes: the socket's buffers fill, the upload stalls
    s.server.on('connection', (sock) => sock.once('data', () => sock.pause()));
    const chunk = Buffer.alloc(1024 * 1024);
    const body = {
      writeTo: async (sink: import('node:stream').Writable) => {
        for (let i = 0; i < 256; i++) if (!sink.write(chunk)) await new Promise((r) => sink.once('drain', r));
      },
    };
    await assert.rejects(putBody(`${s.url}/v1/results/2`, {}, body, null, 300), (err: NodeJS.ErrnoException) => err.code === 'ETIMEDOUT');
  });
});
