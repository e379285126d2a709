// The dashboard's static files (assets/: HTML shell, CSS, two vanilla-JS modules, icon),
// plain files with no build step of their own. `tsc` does not copy non-TS files, so the
// `build` script copies `head/dashboard/assets/` to `dist/head/dashboard/assets/`; this
// module finds them beside itself either way (source under tsx, or dist). They are read
// once at start, kept in memory with a gzip copy and an ETag.
import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SECURITY_HEADERS } from './pages.js';

export const ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url));

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
};

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

export class Assets {
  private readonly files = new Map<string, Asset>();

  constructor(dir = ASSETS_DIR) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      throw new Error(`dashboard assets missing at ${dir}: the build copies head/dashboard/assets there (npm run build)`);
    }
    for (const name of names) {
      const type = TYPES[name.slice(name.lastIndexOf('.') + 1)];
      if (!type) continue;
      const body = readFileSync(`${dir}/${name}`);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`;
      this.files.set(name, { type, body, gzip: gzipSync(body), etag });
    }
    if (!this.files.has('index.html')) throw new Error(`dashboard assets at ${dir} lack index.html`);
  }

  has(name: string): boolean {
    return this.files.has(name);
  }

  /** Sends one asset (revalidated by ETag, gzipped when the browser takes it). */
  send(req: IncomingMessage, res: ServerResponse, name: string, extraHeaders: Record<string, string> = {}): void {
    const asset = this.files.get(name)!;
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      'Content-Type': asset.type,
      'Cache-Control': 'no-cache',
      ETag: asset.etag,
      Vary: 'Accept-Encoding',
      ...extraHeaders,
    };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzip : asset.body;
    if (gzip) headers['Content-Encoding'] = 'gzip';
    headers['Content-Length'] = body.length;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
