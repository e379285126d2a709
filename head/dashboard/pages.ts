// The two pages the head renders itself: the login form (with an error when a token was
// refused) Everything else is the static app
// (assets/) filled by the event stream.
import type { ServerResponse } from 'node:http';

/** No inline scripts or styles anywhere: data reaches the page only as text nodes. */
export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on form
  // posts, and login/logout check the Origin
  'Referrer-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/style.css">
</head>
<body>
${body}
</body>
</html>
`;
}

export function loginPage(error: string | null): string {
  return page(
    'distribute — log in',
    `<main class="login">
<h1><img src="/assets/icon.svg" alt="" width="28" height="28"> distribute</h1>
<form method="post" action="/login" class="card">
<label for="token">Your user token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus spellcheck="false">
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>\n` : ''}<button type="submit">Log in</button>
<p class="hint">Made on the head host with <code>distribute token create --user NAME</code>. Kept in a cookie of this browser.</p>
</form>
</main>`,
  );
}

export function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(html),
    ...headers,
  });
  res.end(html);
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text);
}

export function sendJsonError(res: ServerResponse, status: number, error: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify({ error }));
}
