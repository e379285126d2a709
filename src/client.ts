// The user's connection to the head: which head and which token (flags, then environment,
// then the user config file), calls to the entries of the API table (shared/protocol/http-api.ts)
// with their answers checked by the entry's schema, streamed uploads and downloads. Every
// failure becomes one UserError line naming the head and what to do.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { z } from 'zod';
import { DEFAULT_PORT, headUrls, loadConfig, resolveFrom, UserConfig, userConfigPath } from '../shared/config.js';
import { UserError, errorMessage } from '../shared/errors.js';
import { ApiError, BadBatch } from '../shared/protocol/api.js';
import { pathFor, type Answer, type ApiEntry, type Params, type ParamsOf, type Query, type RequestBody } from '../shared/protocol/http-api.js';
import { readCa } from '../shared/tls.js';
import { failWhenIdle, fetchFailure, HEAD_IDLE_TIMEOUT_MS, putFile, type PutAnswer } from '../shared/head-http.js';

export interface ConnectionOptions {
  head?: string;
  token?: string;
  /** PEM file of the CA that signed the head's certificate */
  ca?: string;
  /** `--ip HOST [--port N]`, the original distribute's spelling of `--head ws://HOST:N` */
  ip?: string;
  port?: string;
}

/** `--ip HOST [--port N]` as a head URL; undefined without --ip. */
export function headFromIp(opts: Pick<ConnectionOptions, 'head' | 'ip' | 'port'>): string | undefined {
  if (opts.ip === undefined) {
    if (opts.port !== undefined) throw new UserError('--port goes with --ip HOST (or give the whole --head ws://HOST:PORT)', 2);
    return undefined;
  }
  if (opts.head !== undefined) throw new UserError('give either --head URL or --ip HOST, not both', 2);
  const port = opts.port ?? String(DEFAULT_PORT);
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new UserError(`--port: "${port}" is not a port number (1-65535)`, 2);
  if (!/^[A-Za-z0-9.:-]+$/.test(opts.ip)) throw new UserError(`--ip: "${opts.ip}" is not a host name or address`, 2);
  // an IPv6 address goes in brackets in a URL
  const host = opts.ip.includes(':') ? `[${opts.ip}]` : opts.ip;
  return `ws://${host}:${port}`;
}

export interface Connection {
  /** the head's base URL as the user gave it */
  head: string;
  /** http(s)://host:port */
  http: string;
  token: string;
  /** where the head and token came from, for error messages */
  source: string;
  /** the CA trusted for https (shared/tls.ts); null: the system's trust store */
  ca: Buffer | null;
}

/** Head URL and token: `--head`/`--token`, else DISTRIBUTE_HEAD/DISTRIBUTE_TOKEN, else the user config. */
export function resolveConnection(opts: ConnectionOptions, env: NodeJS.ProcessEnv = process.env, configFile = userConfigPath()): Connection {
  // an empty variable counts as unset
  let head = opts.head ?? headFromIp(opts) ?? (env.DISTRIBUTE_HEAD || undefined);
  let token = opts.token ?? (env.DISTRIBUTE_TOKEN || undefined);
  let ca: { file: string; where: string } | null = opts.ca ? { file: opts.ca, where: '--ca' } : env.DISTRIBUTE_CA ? { file: env.DISTRIBUTE_CA, where: 'DISTRIBUTE_CA' } : null;
  const sources: string[] = [];
  if (opts.head || opts.ip || opts.token) sources.push('--head/--token');
  if (env.DISTRIBUTE_HEAD || env.DISTRIBUTE_TOKEN) sources.push('DISTRIBUTE_HEAD/DISTRIBUTE_TOKEN');
  if (!head || !token || !ca) {
    const file = readUserConfig(configFile);
    if (file) {
      head ??= file.head;
      token ??= file.token;
      if (!ca && file.ca) ca = { file: resolveFrom(configFile, file.ca), where: `${configFile}: ca` };
      sources.push(configFile);
    }
  }
  if (!head) throw new UserError(`no head to talk to: pass --head URL, set DISTRIBUTE_HEAD, or write "head:" in ${configFile} (\`distribute up\` writes it)`);
  if (!token) throw new UserError(`no token for ${head}: pass --token T, set DISTRIBUTE_TOKEN, or write "token:" in ${configFile} (\`distribute token create --user NAME\` on the head makes one)`);
  return { head, http: headUrls(head).http, token, source: sources.join(', ') || configFile, ca: ca ? readCa(ca.file, ca.where) : null };
}

function readUserConfig(file: string): UserConfig | null {
  try {
    return loadConfig(UserConfig, file);
  } catch (err) {
    if (err instanceof UserError && err.message.startsWith(`cannot read config ${file}: ENOENT`)) return null;
    throw err;
  }
}

/** What a call to an entry names: its path's params, its query, its JSON body. */
export type CallArgs<E extends ApiEntry> =
  ([ParamsOf<E['path']>] extends [never] ? { params?: undefined } : { params: Params<E> })
  & (E['request'] extends z.ZodType ? { body: RequestBody<E> } : { body?: undefined })
  & { query?: Query<E> };
/** the arguments may be left out when the entry needs none */
type ArgsOf<E extends ApiEntry> = object extends CallArgs<E> ? [args?: CallArgs<E>] : [args: CallArgs<E>];

type JsonAnswered = ApiEntry & { response: z.ZodType };
type Streamed = ApiEntry & { response: 'stream' };

export class HeadClient {
  constructor(readonly conn: Connection) {}

  /**
   * A call to an entry that answers JSON, the answer checked with its response schema. Over
   * node's http client, as `open`: fetch would load undici and its WebAssembly HTTP parser,
   * ~30 ms and ~15 MB of every command (a pull of 10,000 files came near 150 MB resident).
   */
  async call<E extends JsonAnswered>(e: E, ...[args]: ArgsOf<E>): Promise<Answer<E>> {
    const a = (args ?? {}) as CallArgs<ApiEntry>;
    const method = e.method;
    const path = pathFor(e, (a.params ?? {}) as Params<E>, a.query as Query<E>);
    const res = await this.request(method, path, a.body);
    let text = '';
    try {
      res.setEncoding('utf8');
      for await (const chunk of res) text += chunk as string;
    } catch (err) {
      throw new UserError(`the head at ${this.conn.head} answered ${method} ${path} with something that is not JSON: ${errorMessage(err)}`, 1);
    }
    return this.checked(e, path, text);
  }

  /** The answer to a call of `e`, checked with the entry's response schema. */
  private checked<E extends JsonAnswered>(e: E, path: string, text: string): Answer<E> {
    const method = e.method;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new UserError(`the head at ${this.conn.head} answered ${method} ${path} with something that is not JSON: ${errorMessage(err)}`, 1);
    }
    const parsed = e.response.safeParse(raw);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(answer)'}: ${i.message}`).join('; ');
      throw new UserError(`the head at ${this.conn.head} answered ${method} ${path} in an unexpected shape (${detail}); is it the same version as this CLI?`, 1);
    }
    return parsed.data as Answer<E>;
  }

  /**
   * A call to an entry whose answer is a long stream (a pull, `logs --follow`), resolved with
   * the 2xx response unread.
   */
  open<E extends Streamed>(e: E, ...[args]: ArgsOf<E>): Promise<IncomingMessage> {
    const a = (args ?? {}) as CallArgs<ApiEntry>;
    return this.request(e.method, pathFor(e, (a.params ?? {}) as Params<E>, a.query as Query<E>), a.body);
  }

  /** PUT a file as the streamed body of a call to `e` (memory stays flat whatever its size); its answer checked. */
  async upload<E extends JsonAnswered & { request: 'stream' }>(e: E, params: Params<E>, file: string): Promise<Answer<E>> {
    const path = pathFor(e, params);
    let answer: PutAnswer;
    try {
      answer = await putFile(this.conn.http + path, { authorization: `Bearer ${this.conn.token}`, 'content-type': 'application/octet-stream' }, file, this.conn.ca);
    } catch (err) {
      throw this.unreachable(err);
    }
    if (answer.status < 200 || answer.status >= 300) throw this.refusalOf(answer.status, '', answer.text, e.method, path);
    return this.checked(e, path, answer.text);
  }

  private unreachable(err: unknown): UserError {
    return new UserError(`cannot reach the head at ${this.conn.head}: ${fetchFailure(err)} — is \`distribute head\` running?`, 1);
  }

  /**
   * A request whose answer is a long stream (a pull, `logs --follow`): node's http client. Until
   * the answer starts, an idle connection fails after HEAD_IDLE_TIMEOUT_MS; after, no idle
   * timeout, so a quiet job does not end the stream. Resolves with the 2xx response.
   */
  private request(method: string, path: string, json?: unknown): Promise<IncomingMessage> {
    const url = new URL(this.conn.http + path);
    const body = json === undefined ? undefined : JSON.stringify(json);
    const headers: Record<string, string> = { authorization: `Bearer ${this.conn.token}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, ...(this.conn.ca ? { ca: this.conn.ca } : {}) }, (res) => {
        // answered: a long stream (logs --follow) may then be quiet for as long as its job
        req.setTimeout(0);
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(res);
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d.length > 65536 ? '' : d));
        res.on('end', () => reject(this.refusalOf(status, res.statusMessage ?? '', text, method, path)));
        res.on('error', reject);
      });
      req.on('error', (err) => reject(this.unreachable(err)));
      failWhenIdle(req, HEAD_IDLE_TIMEOUT_MS);
      req.end(body);
    });
  }

  private refusalOf(status: number, statusText: string, text: string, method: string, path: string): UserError {
    let message = text.trim() || statusText || `${method} ${path} answered ${status} with no reason`;
    let problems: string[] = [];
    try {
      const raw = JSON.parse(text) as unknown;
      const bad = BadBatch.safeParse(raw);
      if (bad.success) {
        message = bad.data.error;
        problems = bad.data.problems;
      } else {
        const e = ApiError.safeParse(raw);
        if (e.success) message = e.data.error;
      }
    } catch {
      // not JSON: keep the text
    }
    if (status === 401) {
      return new UserError(`the head at ${this.conn.head} refused the token (${message}); check the token from ${this.conn.source}`, 2);
    }
    if (problems.length > 0) return new UserError([message, ...problems].join('\n'), 2);
    const code = status >= 400 && status < 500 ? 2 : 1;
    const prefix = status >= 500 ? `the head at ${this.conn.head} failed on ${method} ${path} (${status}): ` : '';
    return new UserError(prefix + message, code);
  }
}

export function connect(opts: ConnectionOptions): HeadClient {
  return new HeadClient(resolveConnection(opts));
}
