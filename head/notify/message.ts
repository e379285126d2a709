// The text of a notification, from a batch summary: pure, so its exact words are tested.
// Each message has a plain body and the same content as HTML (`formatted_body`).
import { formatDuration } from '../../shared/spec/units.js';

export type NotificationKind = 'end' | 'first_failure' | 'build_failed';

export interface FailedJob {
  name: string;
  exitCode: number | null;
  signal: string | null;
  /** why, when there is no exit code to tell it (timed out, lost its node, could not start) */
  error: string | null;
}

export interface BuildFailure {
  node: string;
  /** one line of the node's build report: status and last line of stderr */
  excerpt: string;
}

export interface BatchSummary {
  namespace: string;
  batch: string;
  counts: { total: number; done: number; failed: number; cancelled: number };
  /** from the batch's add to now */
  wallMs: number;
  /** the earliest failures, at most FAILURES_SHOWN */
  failures: FailedJob[];
  buildFailures: BuildFailure[];
  /** the batch file as the user named it at add, when the head knows it */
  file: string | null;
  /** how the batch's finalize step ended (it is counted among the jobs too); absent when it has none */
  finalize?: string | null;
}

export interface Message {
  body: string;
  html: string;
}

export const FAILURES_SHOWN = 5;

export function renderMessage(kind: NotificationKind, s: BatchSummary): Message {
  switch (kind) {
    case 'end':
      return endMessage(s);
    case 'first_failure':
      return firstFailureMessage(s);
    case 'build_failed':
      return buildFailedMessage(s);
  }
}

/** `exit code 1`, `killed by SIGKILL`, `timed out`, `lost its node 3 times (last: ws2)`. */
export function describeFailure(j: FailedJob): string {
  const parts: string[] = [];
  if (j.exitCode !== null) parts.push(`exit code ${j.exitCode}`);
  if (j.signal) parts.push(`killed by ${j.signal}`);
  if (j.error) parts.push(j.error);
  return parts.length ? parts.join(', ') : 'failed';
}

/** The command that fetches the batch's results (docs/architecture.md, CLI contract: pull takes the batch file). */
export function pullCommand(s: BatchSummary): string {
  return `distribute pull ${s.file ? shellWord(s.file) : `<the batch file of ${s.namespace}/${s.batch}>`}`;
}

function endMessage(s: BatchSummary): Message {
  const c = s.counts;
  const head = `ended after ${formatDuration(s.wallMs)}: ${c.done} done, ${c.failed} failed, ${c.cancelled} cancelled.`;
  const lines = [`Batch ${s.batch} (namespace ${s.namespace}) ${head}`];
  const html = [`<p>Batch <b>${esc(s.batch)}</b> (namespace <b>${esc(s.namespace)}</b>) ${esc(head)}</p>`];
  if (s.finalize) {
    lines.push(`The finalize step ${s.finalize === 'done' ? 'succeeded' : s.finalize === 'failed' ? 'failed' : `ended ${s.finalize}`}.`);
    html.push(`<p>${esc(lines[lines.length - 1]!)}</p>`);
  }
  if (s.failures.length > 0) {
    lines.push(c.failed > s.failures.length ? `First failures (${s.failures.length} of ${c.failed}):` : 'Failures:');
    html.push(`<p>${esc(lines[lines.length - 1]!)}</p>`);
    lines.push(...s.failures.map((j) => `- ${j.name}: ${describeFailure(j)}`));
    html.push(failureList(s.failures));
  }
  const pull = pullCommand(s);
  lines.push(`Fetch the results: ${pull}`);
  html.push(`<p>Fetch the results: <code>${esc(pull)}</code></p>`);
  return { body: lines.join('\n'), html: html.join('') };
}

function firstFailureMessage(s: BatchSummary): Message {
  const c = s.counts;
  const first = s.failures[0];
  const open = c.total - c.done - c.failed - c.cancelled;
  const head = `Batch ${s.batch} (namespace ${s.namespace}): a job failed after ${formatDuration(s.wallMs)}.`;
  const so = `So far ${c.done} done, ${c.failed} failed, ${c.cancelled} cancelled, ${open} still to run.`;
  const lines = [head];
  const html = [`<p>Batch <b>${esc(s.batch)}</b> (namespace <b>${esc(s.namespace)}</b>): a job failed after ${esc(formatDuration(s.wallMs))}.</p>`];
  if (first) {
    lines.push(`- ${first.name}: ${describeFailure(first)}`);
    html.push(failureList([first]));
  }
  lines.push(so);
  html.push(`<p>${esc(so)}</p>`);
  if (first) {
    const logs = `distribute logs --namespace ${s.namespace} ${s.batch} ${first.name}`;
    lines.push(`Its output: ${logs}`);
    html.push(`<p>Its output: <code>${esc(logs)}</code></p>`);
  }
  return { body: lines.join('\n'), html: html.join('') };
}

function buildFailedMessage(s: BatchSummary): Message {
  const c = s.counts;
  const head = `failed after ${formatDuration(s.wallMs)}: its build failed on every capable node.`;
  const counts = `${c.done} done, ${c.failed} failed, ${c.cancelled} cancelled.`;
  const lines = [`Batch ${s.batch} (namespace ${s.namespace}) ${head}`];
  const html = [`<p>Batch <b>${esc(s.batch)}</b> (namespace <b>${esc(s.namespace)}</b>) ${esc(head)}</p>`];
  lines.push(...s.buildFailures.map((b) => `- ${b.node}: ${b.excerpt}`));
  if (s.buildFailures.length) {
    html.push(`<ul>${s.buildFailures.map((b) => `<li><b>${esc(b.node)}</b>: <code>${esc(b.excerpt)}</code></li>`).join('')}</ul>`);
  }
  lines.push(counts);
  html.push(`<p>${esc(counts)}</p>`);
  return { body: lines.join('\n'), html: html.join('') };
}

function failureList(jobs: FailedJob[]): string {
  return `<ul>${jobs.map((j) => `<li><code>${esc(j.name)}</code>: ${esc(describeFailure(j))}</li>`).join('')}</ul>`;
}

function esc(text: string): string {
  return text.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}

/** A file name as one shell word: quoted only when it needs to be. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./+:@%=-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
