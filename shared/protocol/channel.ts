// A typed message channel over one WebSocket: decode and validate every incoming frame,
// answer bad frames with an error instead of crashing, and pair requests with answers by id.
import type { WebSocket, RawData } from 'ws';
import type { z } from 'zod';
import { decode, describeWireError, encode, MAX_FRAME } from './codec.js';

type WithType = { type: string };
type Answer = { re: number | null };

export interface ChannelOptions<In> {
  schema: z.ZodType<In>;
  maxFrame?: number;
  /** told about every frame that could not be decoded or validated */
  onInvalid?: (detail: string) => void;
  /** told about every message not sent because its frame would be over MAX_FRAME */
  onOversize?: (type: string, size: number) => void;
}

export class Channel<In extends WithType, Out extends WithType> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (m: In) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private handler: ((m: In) => void) | null = null;

  constructor(readonly socket: WebSocket, private readonly opts: ChannelOptions<In>) {
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    socket.on('close', () => this.failPending(new Error('connection closed')));
  }

  /** Handler for every message that is not an answer to one of our requests. */
  onMessage(handler: (m: In) => void): void {
    this.handler = handler;
  }

  /**
   * Sends unless the connection is closed or the frame is over MAX_FRAME, the size every peer
   * accepts (a frame the peer refuses would only make it reconnect); false when not sent.
   */
  send(message: Out): boolean {
    if (this.socket.readyState !== this.socket.OPEN) return false;
    const frame = encode(message);
    if (frame.byteLength > MAX_FRAME) {
      this.opts.onOversize?.(message.type, frame.byteLength);
      return false;
    }
    this.socket.send(frame);
    return true;
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
      this.send({ ...message, id } as unknown as Out);
    });
  }

  close(code = 1000, reason = ''): void {
    this.socket.close(code, reason);
  }

  private receive(data: RawData, isBinary: boolean): void {
    const frame = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!isBinary) return this.invalid('text frames are not spoken here; send msgpack binary frames');
    const decoded = decode(this.opts.schema, frame, this.opts.maxFrame ?? MAX_FRAME);
    if (!decoded.ok) return this.invalid(describeWireError(decoded.error));
    const msg = decoded.value;
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
