// distribute dashboard: renders the view the head pushes over Server-Sent Events
// (/v1/events). No polling: the page draws whatever the head sends, and EventSource
// reconnects by itself. Data only ever reaches the DOM as text (no innerHTML).
'use strict';

import { clock, histogram, nodeLegend, outcomeLegend, timeline, utilisation } from './charts.js';

const STATES = ['done', 'failed', 'cancelled', 'running', 'paused', 'assigned', 'queued'];
const FILTER_STATES = ['queued', 'assigned', 'running', 'paused', 'done', 'failed', 'cancelled'];

const app = document.getElementById('app');
const live = document.getElementById('live');
const viewerEl = document.getElementById('viewer');

/** which failure details are open, and the stderr fetched for the batch page, by ns/batch/job */
const openDetails = new Set();
const stderrText = new Map();

// ---- tiny DOM helper --------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children, skipping empty ones as h() does. */
function put(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

// ---- formatting -------------------------------------------------------------------------

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(v >= 10 ? 0 : 1)} ${units[i]}`;
}

function duration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** A clock time; with the date when it is not today. */
function time(ms) {
  return ms ? clock(ms) : '';
}

/** The head's log route (it takes the dashboard cookie); followed while the job runs. */
function logHref(b, job, follow) {
  return `/v1/logs/${[b.namespace, b.name, job].map(encodeURIComponent).join('/')}?stream=stdout${follow ? '&follow=1' : ''}`;
}

function batchHref(ns, name) {
  return `/batches/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
}

function finishedPercent(b) {
  if (b.total === 0) return 0;
  return Math.floor((100 * (b.counts.done + b.counts.failed + b.counts.cancelled)) / b.total);
}

// ---- pieces -----------------------------------------------------------------------------

function badge(state) {
  return h('span', { class: 'badge', dataset: { state } }, state);
}

function meter(used, total, text) {
  const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  const fill = h('div', { class: 'fill' });
  fill.style.width = `${pct}%`;
  return h('div', { class: 'meter' }, h('div', { class: 'track' }, fill), h('span', { class: 'num' }, text));
}

/**
 * A job's peak memory against what it asked: the outline is the ask, the filled part the
 * peak (capped at the outline; a peak above the ask or an out-of-memory kill is marked). A
 * job not measured, or that asked for no memory, gets words instead of a bar.
 */
function memoryBar(m) {
  if (m.peak === null) return h('span', { class: 'mem-none muted', title: m.label }, 'not measured');
  if (m.asked === null) return h('span', { class: 'mem-text', title: m.label }, m.text);
  const track = h('span', { class: 'mem-track' }, h('span', { class: 'mem-fill' }));
  track.firstChild.style.width = `${Math.min(100, (100 * m.peak) / m.asked)}%`;
  const marks = {};
  if (m.peak > m.asked) marks.over = '';
  if (m.outOfMemory) marks.oom = '';
  return h('span', { class: 'mem', role: 'img', 'aria-label': m.label, title: m.label, dataset: marks },
    track, h('span', { class: 'mem-text' }, m.outOfMemory ? `${m.text} · out of memory` : m.text));
}

function progress(b) {
  const bar = h('div', { class: 'bar', role: 'img', 'aria-label': STATES.map((s) => `${b.counts[s]} ${s}`).join(', ') });
  for (const s of STATES) {
    if (!b.counts[s]) continue;
    const seg = h('span', { dataset: { state: s }, title: `${b.counts[s]} ${s}` });
    seg.style.width = `${(100 * b.counts[s]) / b.total}%`;
    bar.append(seg);
  }
  const pct = finishedPercent(b);
  const ended = b.counts.done + b.counts.failed + b.counts.cancelled;
  return h('div', { class: 'progress', dataset: { progress: pct } }, bar, h('span', { class: 'pct' }, `${ended} / ${b.total} · ${pct}%`));
}

function legend(b) {
  return h('div', { class: 'legend' }, STATES.filter((s) => b.counts[s]).map((s) => h('span', {}, h('span', { class: 'dot', dataset: { state: s } }), `${b.counts[s]} ${s}`)));
}

function exitText(f) {
  if (f.signal) return `killed by ${f.signal}`;
  if (f.exitCode !== null && f.exitCode !== undefined) return `exit ${f.exitCode}`;
  return 'no exit code';
}

/** The head's error, unless it only repeats the exit code shown beside it. */
function extraError(j) {
  return j.error && j.error !== `exited with code ${j.exitCode}` && j.error !== exitText(j) ? j.error : null;
}

function failureItem(b, f) {
  const key = `${b.namespace}/${b.name}/${f.job}`;
  const details = h(
    'details',
    { class: 'failure', open: openDetails.has(key), ontoggle: (e) => (e.target.open ? openDetails.add(key) : openDetails.delete(key)) },
    h('summary', {}, h('span', { class: 'job' }, f.job), ' ', h('span', { class: 'error' }, exitText(f)), h('span', { class: 'muted' }, f.node ? ` on ${f.node}` : '', f.attempt ? ` · attempt ${f.attempt}` : ''), extraError(f) ? h('span', {}, ` — ${f.error}`) : null),
  );
  if (f.stderrTail === undefined) details.append(h('p', { class: 'muted' }, 'reading stderr…'));
  else if (f.stderrTail === null || f.stderrTail === '') details.append(h('p', { class: 'muted' }, f.stderrTail === '' ? 'stderr was empty' : 'no stderr archived'));
  else details.append(h('pre', { class: 'stderr' }, f.stderrTail));
  return details;
}

function batchCard(b) {
  const failures = b.failures.length
    ? h('div', { class: 'failures' },
        h('div', { class: 'muted' }, b.counts.failed > b.failures.length ? `latest ${b.failures.length} of ${b.counts.failed} failures` : `${b.counts.failed} failed`),
        b.failures.map((f) => failureItem(b, f)))
    : null;
  return h('section', { class: 'batch', dataset: { batch: `${b.namespace}/${b.name}`, state: b.state } },
    h('div', { class: 'batch-head' },
      h('a', { class: 'batch-name', href: batchHref(b.namespace, b.name) }, h('span', { class: 'ns' }, `${b.namespace} / `), b.name),
      badge(b.state),
      h('span', { class: 'muted' }, `by ${b.owner} · added ${time(b.created)}`)),
    progress(b),
    legend(b),
    failures);
}

function nodeRow(n) {
  const runningCell = h('td', {},
    n.running.length || n.hiddenRunning
      ? h('ul', { class: 'running-list' },
          n.running.map((r) => h('li', {}, h('a', { href: batchHref(r.namespace, r.batch) }, `${r.namespace}/${r.batch}`), `/${r.job}`, r.attempt > 1 ? h('span', { class: 'muted' }, ` (attempt ${r.attempt})`) : null)),
          n.hiddenRunning ? h('li', { class: 'muted' }, `${n.hiddenRunning} job${n.hiddenRunning > 1 ? 's' : ''} of other users`) : null)
      : h('span', { class: 'muted' }, '—'));
  const cpuText = n.maxJobs ? `${n.running.length + n.hiddenRunning} / ${n.maxJobs} jobs` : `${n.used.cpus} / ${n.resources.cpus}`;
  return h('tr', { dataset: { node: n.name, state: n.state } },
    h('td', { class: 'mono' }, n.name),
    h('td', {}, badge(n.state)),
    h('td', {}, n.maxJobs ? meter(n.running.length + n.hiddenRunning, n.maxJobs, cpuText) : meter(n.used.cpus, n.resources.cpus, cpuText)),
    h('td', {}, meter(n.used.memory, n.resources.memory, `${bytes(n.used.memory)} / ${bytes(n.resources.memory)}`)),
    h('td', { class: 'num' }, n.resources.gpus ? `${n.used.gpus} / ${n.resources.gpus}` : h('span', { class: 'muted' }, '—')),
    runningCell,
    h('td', { class: 'hide-narrow' }, h('div', { class: 'chips' }, n.capabilities.map((c) => h('span', { class: 'chip' }, c)))));
}

function nodesTable(nodes) {
  if (!nodes.length) return h('div', { class: 'empty' }, 'No compute node has joined yet.');
  return h('table', { class: 'nodes' },
    h('thead', {}, h('tr', {}, ['Node', 'State', 'CPUs', 'Memory', 'GPUs', 'Running'].map((t) => h('th', {}, t)), h('th', { class: 'hide-narrow' }, 'Capabilities'))),
    h('tbody', {}, nodes.map(nodeRow)));
}

function countBy(nodes) {
  const c = {};
  for (const n of nodes) c[n.state] = (c[n.state] || 0) + 1;
  return Object.entries(c).map(([s, k]) => `${k} ${s}`).join(', ');
}

// ---- utilisation (overview) -------------------------------------------------------------

const RANGES = [['1h', 'last hour'], ['24h', 'day'], ['7d', 'week']];

/**
 * The overview's utilisation chart. Its data comes from /v1/usage, fetched again when the
 * pushed view says a newer sample exists (view.usageAt) or the range changes: live without
 * a timer of its own.
 */
const usageChart = {
  range: '1h',
  data: null,
  fetchedFor: undefined,
  el: h('div', { class: 'chart-card', id: 'utilisation' }),

  update(view) {
    if (view.usageAt === this.fetchedFor) return;
    this.fetchedFor = view.usageAt;
    if (view.usageAt === null) this.draw();
    else this.fetch();
  },

  async fetch() {
    const res = await fetch(`/v1/usage?since=${this.range}`).catch(() => null);
    if (!res || !res.ok) return;
    this.data = await res.json();
    this.draw();
  },

  draw() {
    const buttons = h('span', { class: 'range' }, RANGES.map(([r, text]) => h('button', { type: 'button', 'aria-pressed': String(r === this.range), onclick: () => { this.range = r; this.fetch(); } }, text)));
    const d = this.data;
    put(this.el,
      h('h3', {}, 'CPUs busy per node', buttons),
      this.fetchedFor === null ? h('p', { class: 'muted' }, 'No utilisation sample yet: the head takes one per node each minute.')
        : !d ? h('p', { class: 'muted' }, 'loading…')
        : !d.nodes.length ? h('p', { class: 'muted' }, `No samples since ${clock(d.since)} yet.`)
          : [utilisation(d), nodeLegend(d)]);
  },
};

// ---- pages ------------------------------------------------------------------------------

function renderOverview(view) {
  document.title = 'distribute';
  if (!usageChart.data) usageChart.draw();
  usageChart.update(view);
  put(app,
    h('h2', {}, 'Nodes ', h('span', { class: 'count' }, view.nodes.length ? `(${countBy(view.nodes)})` : '')),
    nodesTable(view.nodes),
    h('h2', {}, 'Utilisation'),
    usageChart.el,
    h('h2', {}, 'Batches ', h('span', { class: 'count' }, view.batches.length ? `(${view.batches.length + view.olderBatches})` : '')),
    view.batches.length
      ? h('div', { class: 'batches' }, view.batches.map(batchCard))
      : h('div', { class: 'empty' }, view.viewer.admin ? 'No batch has been added yet.' : 'No batch in your namespaces yet. Add one with distribute add BATCH.yaml.'),
    view.olderBatches ? h('p', { class: 'muted' }, `and ${view.olderBatches} older batches`) : null,
  );
}

/** The batch page: filter controls stay in place; the summary and the table are redrawn. */
const batchPage = {
  route: null,
  summary: null,
  table: null,
  shown: null,

  mount(route) {
    this.route = route;
    const stateSelect = h('select', { id: 'filter-state', 'aria-label': 'state', onchange: (e) => this.setFilter({ state: e.target.value }) },
      h('option', { value: '' }, 'all states'), FILTER_STATES.map((s) => h('option', { value: s, selected: route.state === s }, s)));
    let typing = null;
    const text = h('input', { id: 'filter-text', type: 'search', placeholder: 'job name contains…', value: route.q, 'aria-label': 'job name contains',
      oninput: (e) => { clearTimeout(typing); typing = setTimeout(() => this.setFilter({ q: e.target.value }), 250); } });
    this.summary = h('div', {});
    this.charts = h('div', { class: 'charts' });
    this.shown = h('span', { class: 'muted' });
    this.table = h('div', {});
    put(app,
      h('p', { class: 'crumbs' }, h('a', { href: '/' }, '← all batches')),
      this.summary,
      this.charts,
      h('div', { class: 'filters' }, stateSelect, text, this.shown),
      this.table);
  },

  setFilter(change) {
    Object.assign(this.route, change);
    const q = new URLSearchParams();
    if (this.route.state) q.set('state', this.route.state);
    if (this.route.q) q.set('q', this.route.q);
    history.replaceState(null, '', `${location.pathname}${q.toString() ? `?${q}` : ''}`);
    connect();
  },

  render(view) {
    const b = view.batch;
    if (!b) {
      document.title = 'distribute — no such batch';
      put(this.summary, h('h1', {}, `${this.route.namespace} / ${this.route.batch}`), h('p', { class: 'empty' }, 'No such batch among the namespaces you can see.'));
      put(this.table);
      put(this.charts);
      this.shown.textContent = '';
      return;
    }
    this.drawCharts(b);
    document.title = `${b.name} — ${finishedPercent(b)}% — distribute`;
    put(this.summary,
      h('section', { class: 'batch', dataset: { batch: `${b.namespace}/${b.name}`, state: b.state } },
        h('div', { class: 'batch-head' }, h('h1', { class: 'batch-name' }, h('span', { class: 'ns' }, `${b.namespace} / `), b.name), badge(b.state), h('span', { class: 'muted' }, `by ${b.owner} · added ${time(b.created)}`)),
        progress(b), legend(b),
        b.memoryHint ? h('p', { class: 'memory-hint' }, b.memoryHint) : null));
    this.shown.textContent = b.matching > b.jobs.length ? `showing ${b.jobs.length} of ${b.matching} matching jobs — narrow the filter` : `${b.matching} matching job${b.matching === 1 ? '' : 's'}`;
    if (!b.jobs.length) return void put(this.table, h('div', { class: 'empty' }, 'No job matches the filter.'));
    const rows = [];
    for (const j of b.jobs) {
      const key = `${b.namespace}/${b.name}/${j.name}`;
      const finished = j.state === 'failed' || j.state === 'done';
      const live = j.state === 'running' || j.state === 'paused';
      const toggle = finished ? h('button', { class: 'link', type: 'button', onclick: () => this.toggleStderr(b, j.name) }, openDetails.has(key) ? 'hide stderr' : 'stderr') : null;
      const stdout = finished || live
        ? h('a', { class: 'log-link', href: logHref(b, j.name, live), target: '_blank', rel: 'noopener' }, live ? 'stdout (live)' : 'stdout')
        : null;
      rows.push(h('tr', { dataset: { job: j.name, state: j.state } },
        h('td', { class: 'mono' }, j.name, j.finalize ? h('span', { class: 'marker', title: 'runs once every other job has ended' }, 'finalize') : null),
        h('td', {}, j.waiting ? h('span', { class: 'badge', dataset: { state: 'queued', waiting: '' }, title: j.finalize ? 'runs once every other job has ended' : 'starts once these jobs are done (after:)' }, `waiting for ${j.waitingFor ?? 'other jobs'}`) : badge(j.state)),
        h('td', { class: 'mono' }, j.node || ''),
        h('td', { class: 'num' }, j.attempt || ''),
        h('td', { class: 'num' }, j.state === 'failed' || j.state === 'done' ? exitText(j) : ''),
        h('td', { class: 'num hide-narrow' }, time(j.started)),
        h('td', { class: 'num' }, j.started && j.ended ? duration(j.ended - j.started) : ''),
        h('td', { class: 'memory' }, memoryBar(j.memory)),
        h('td', {}, h('span', { class: 'actions' }, extraError(j) ? h('span', { class: 'error' }, j.error) : null, stdout, toggle))));
      if (openDetails.has(key)) {
        const text = stderrText.get(key);
        rows.push(h('tr', { class: 'stderr-row' }, h('td', { colspan: 9 }, text === undefined ? h('span', { class: 'muted' }, 'loading…') : h('pre', { class: 'stderr' }, text))));
      }
    }
    put(this.table, h('table', { class: 'jobs' },
      h('thead', {}, h('tr', {}, ['Job', 'State', 'Node', 'Attempt', 'Exit'].map((t) => h('th', {}, t)), h('th', { class: 'hide-narrow' }, 'Started'), h('th', {}, 'Took'), h('th', { title: 'peak memory of the last finished attempt / what it asked' }, 'Peak memory / asked'), h('th', {}, ''))),
      h('tbody', {}, rows)));
  },

  /** The timeline and the histogram, redrawn only when the attempts changed. */
  drawCharts(b) {
    const key = JSON.stringify([b.attempts, b.waiting]);
    const running = b.attempts.some((a) => a.ended === null);
    if (key === this.chartsKey && !running) return;
    this.chartsKey = key;
    const waits = b.waiting.jobs > 0 || b.waiting.finalize;
    if (!b.attempts.length && !waits) return void put(this.charts);
    const more = b.attemptCount > b.attempts.length ? h('p', { class: 'muted' }, `the first ${b.attempts.length} of ${b.attemptCount} attempts`) : null;
    put(this.charts,
      h('div', { class: 'chart-card', id: 'timeline' }, h('h3', {}, 'Timeline: attempts per node'), timeline(b.attempts, Date.now(), b.waiting), outcomeLegend(b.attempts), more),
      h('div', { class: 'chart-card', id: 'histogram' }, h('h3', {}, 'Run times'), histogram(b.attempts)));
  },

  async toggleStderr(b, job) {
    const key = `${b.namespace}/${b.name}/${job}`;
    if (openDetails.has(key)) openDetails.delete(key);
    else openDetails.add(key);
    redraw();
    if (!openDetails.has(key) || stderrText.has(key)) return;
    const res = await fetch(`/v1/dashboard/stderr/${[b.namespace, b.name, job].map(encodeURIComponent).join('/')}`);
    stderrText.set(key, res.ok ? (await res.text()) || '(empty)' : (await res.json().catch(() => ({ error: res.statusText }))).error);
    redraw();
  },
};

// ---- wiring -----------------------------------------------------------------------------

function parseRoute() {
  const m = /^\/batches\/([^/]+)\/([^/]+)\/?$/.exec(location.pathname);
  if (!m) return { kind: 'overview' };
  const q = new URLSearchParams(location.search);
  return { kind: 'batch', namespace: decodeURIComponent(m[1]), batch: decodeURIComponent(m[2]), state: q.get('state') || '', q: q.get('q') || '' };
}

function streamUrl(route) {
  if (route.kind !== 'batch') return '/v1/events';
  const q = new URLSearchParams({ namespace: route.namespace, batch: route.batch });
  if (route.state) q.set('state', route.state);
  if (route.q) q.set('q', route.q);
  return `/v1/events?${q}`;
}

let source = null;
let lastView = null;

function setLive(state, text) {
  live.dataset.live = state;
  live.textContent = text;
}

function redraw() {
  if (!lastView) return;
  viewerEl.textContent = `${lastView.viewer.name}${lastView.viewer.admin ? ' (admin)' : ''}`;
  if (route.kind === 'batch') batchPage.render(lastView);
  else renderOverview(lastView);
}

function connect() {
  if (source) source.close();
  const url = streamUrl(route);
  const es = new EventSource(url);
  source = es;
  es.addEventListener('open', () => setLive('open', 'live'));
  es.addEventListener('view', (e) => {
    lastView = JSON.parse(e.data);
    redraw();
  });
  es.addEventListener('logout', () => {
    es.close();
    location.reload();
  });
  es.addEventListener('error', () => {
    if (es !== source) return;
    if (es.readyState !== EventSource.CLOSED) return setLive('connecting', 'reconnecting…');
    // the head answered but refused the stream: find out why
    setLive('closed', 'disconnected');
    explainRefusal(url);
  });
}

async function explainRefusal(url) {
  const ctl = new AbortController();
  try {
    const res = await fetch(url, { signal: ctl.signal });
    if (res.status === 401) return location.reload(); // the server shows the login form
    if (!res.ok) {
      const body = await res.json().catch(() => ({ error: res.statusText }));
      app.prepend(h('p', { class: 'error' }, `The head refused the live view: ${body.error}`));
    } else connect();
  } catch {
    setLive('closed', 'head unreachable');
  } finally {
    ctl.abort();
  }
}

const route = parseRoute();
if (route.kind === 'batch') batchPage.mount(route);
connect();
