// A TCP proxy in front of a head that stops forwarding a response after a byte budget: the
// connection stays open but silent, as a network that stalls mid-download. Tests use it to
// stop a pull at a known point and kill the client there, deterministically.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export class StallProxy {
  private server!: Server;
  private readonly sockets = new Set<Socket>();
  url = '';
  /** resolves when a connection has used up its budget */
  stalled: Promise<void>;
  private onStall!: () => void;

  private constructor(private readonly target: { host: string; port: number }, private readonly budget: number) {
    this.stalled = new Promise((r) => (this.onStall = r));
  }

  /** `head` is the head's http:// or ws:// base URL; each response may carry `budget` bytes. */
  static async start(head: string, budget: number): Promise<StallProxy> {
    const u = new URL(head);
    const p = new StallProxy({ host: u.hostname, port: Number(u.port) }, budget);
    p.server = createServer((client) => p.relay(client));
    await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', r));
    p.url = `http://127.0.0.1:${(p.server.address() as AddressInfo).port}`;
    return p;
  }

  private relay(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    let sent = 0;
    upstream.on('data', (chunk: Buffer) => {
      const room = this.budget - sent;
      if (room <= 0) return;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      sent += part.length;
      if (!client.write(part)) {
        upstream.pause();
        client.once('drain', () => sent < this.budget && upstream.resume());
      }
      if (sent >= this.budget) {
        upstream.pause();
        this.onStall();
      }
    });
    upstream.on('end', () => sent < this.budget && client.end());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
