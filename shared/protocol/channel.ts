// A typed message channel over one WebSocket: decode and validate every incoming frame,
// answer bad frames with an error instead of crashing, and pair requests with answers by id.
// `sendSoon` queues a message for the end of this turn of the event loop: what is queued in
// one turn leaves as one frame, a `bundle` when more than one (protocol 3), so a pass's many
// assignments or a node's many reports cost one frame, one write and one decode. `send`
// flushes the queue first: the order of messages is always the order they were given.
import type { WebSocket, RawData } from 'ws';
import type { z } from 'zod';
import { decode, describeWireError, encode, MAX_FRAME } from './codec.js';
import { MAX_BUNDLE } from './common.js';

type WithType = { type: string };

/** A bundle leaves once it holds this many bytes of encoded messages (far under any frame limit). */
const BUNDLE_BYTES = 1024 * 1024;

/** `{type: 'bundle', messages: []}` as msgpack, its empty array's header last. */
const BUNDLE_HEAD = encode({ type: 'bundle', messages: [] });
if (BUNDLE_HEAD[BUNDLE_HEAD.length - 1] !== 0x90) throw new Error('unexpected msgpack encoding of an empty array');

/** A bundle frame of already encoded messages: the header, an array header, the messages. */
function bundleFrame(parts: Buffer[], bytes: number): Buffer {
  const n = parts.length;
  const arrayHeader = n < 16 ? Buffer.from([0x90 | n]) : Buffer.from([0xdc, n >> 8, n & 0xff]);
  return Buffer.concat([BUNDLE_HEAD.subarray(0, BUNDLE_HEAD.length - 1), arrayHeader, ...parts], BUNDLE_HEAD.length - 1 + arrayHeader.length + bytes);
}
type Answer = { re: number | null };

export interface ChannelOptions<In> {
  schema: z.ZodType<In>;
  maxFrame?: number;
  /** the types of outgoing message that may travel in a `bundle`; others always leave alone */
  bundled?: ReadonlySet<string>;
  /** told about every frame that could not be decoded or validated */
  onInvalid?: (detail: string) => void;
  /** told about every message not sent because its frame would be over MAX_FRAME */
  onOversize?: (type: string, size: number) => void;
}

export class Channel<In extends WithType, Out extends WithType> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (m: In) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private handler: ((m: In) => void) | null = null;
  private outbox: Out[] = [];

  constructor(readonly socket: WebSocket, private readonly opts: ChannelOptions<In>) {
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    socket.on('close', () => this.failPending(new Error('connection closed')));
  }

  /** Handler for every message that is not an answer to one of our requests. */
  onMessage(handler: (m: In) => void): void {
    this.handler = handler;
  }

  /**
   * Sends (after what is queued) unless the connection is closed or the frame is over
   * MAX_FRAME, the size every peer accepts (a frame the peer refuses would only make it
   * reconnect); false when not sent.
   */
  send(message: Out): boolean {
    this.flush();
    if (this.socket.readyState !== this.socket.OPEN) return false;
    const frame = this.fitting(message);
    if (frame === null) return false;
    this.socket.send(frame);
    return true;
  }

  /** Queues the message; everything queued in this turn of the event loop leaves together. */
  sendSoon(message: Out): void {
    this.outbox.push(message);
    if (this.outbox.length === 1) setImmediate(() => this.flush());
  }

  /** Sends what is queued: alone when it is one message, else as bundles. */
  flush(): void {
    if (this.outbox.length === 0) return;
    const queued = this.outbox;
    this.outbox = [];
    if (this.socket.readyState !== this.socket.OPEN) return;
    if (queued.length === 1) {
      const frame = this.fitting(queued[0]!);
      if (frame !== null) this.socket.send(frame);
      return;
    }
    let parts: Buffer[] = [];
    let bytes = 0;
    const out = () => {
      if (parts.length === 1) this.socket.send(parts[0]!);
      else if (parts.length > 1) this.socket.send(bundleFrame(parts, bytes));
      parts = [];
      bytes = 0;
    };
    for (const m of queued) {
      const frame = this.fitting(m);
      if (frame === null) continue;
      // a frame near the limit leaves alone: a bundle holding it could pass MAX_FRAME
      if (!this.opts.bundled?.has(m.type) || frame.length > BUNDLE_BYTES) {
        out();
        this.socket.send(frame);
        continue;
      }
      if (parts.length > 0 && (bytes + frame.length > BUNDLE_BYTES || parts.length >= MAX_BUNDLE)) out();
      parts.push(frame);
      bytes += frame.length;
    }
    out();
  }

  /** The message's frame; null (and onOversize told) when it is over MAX_FRAME. */
  private fitting(message: Out): Buffer | null {
    const frame = encode(message);
    if (frame.byteLength <= MAX_FRAME) return frame;
    this.opts.onOversize?.(message.type, frame.byteLength);
    return null;
  }

  /** Sends a message with a fresh `id` and resolves with the message whose `re` matches it. */
  request<R extends In>(message: Omit<Out, 'id'> & { id?: never }, timeoutMs = 10_000): Promise<R> {
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer to ${message.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (m: In) => void, reject, timer });
      this.sendSoon({ ...message, id } as unknown as Out);
    });
  }

  close(code = 1000, reason = ''): void {
    this.flush();
    this.socket.close(code, reason);
  }

  private receive(data: RawData, isBinary: boolean): void {
    const frame = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!isBinary) return this.invalid('text frames are not spoken here; send msgpack binary frames');
    const decoded = decode(this.opts.schema, frame, this.opts.maxFrame ?? MAX_FRAME);
    if (!decoded.ok) return this.invalid(describeWireError(decoded.error));
    const msg = decoded.value;
    if (msg.type === 'bundle') {
      for (const inner of (msg as unknown as { messages: In[] }).messages) this.dispatch(inner);
      return;
    }
    this.dispatch(msg);
  }

  private dispatch(msg: In): void {
    const re = (msg as unknown as Partial<Answer>).re;
    if (typeof re === 'number' && this.pending.has(re)) {
      const p = this.pending.get(re)!;
      this.pending.delete(re);
      clearTimeout(p.timer);
      p.resolve(msg);
      return;
    }
    this.handler?.(msg);
  }

  private invalid(detail: string): void {
    this.opts.onInvalid?.(detail);
    this.send({ type: 'error', re: null, message: detail } as unknown as Out);
  }

  private failPending(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }
}
