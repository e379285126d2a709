// distribute dashboard: the pictures, drawn as inline SVG from the data the head sends (no
// chart library). A batch's timeline (one lane per node, one bar per attempt coloured by
// how it ended), a histogram of its run times, and the cluster's utilisation over time
// (cpus busy per node, stacked). Text reaches the SVG only as text nodes.
'use strict';

const NS = 'http://www.w3.org/2000/svg';
const OUTCOMES = ['ok', 'failed', 'lost', 'refused', 'cancelled', 'running'];
const OUTCOME_NAMES = { ok: 'done', failed: 'failed', lost: 'node lost', refused: 'could not start', cancelled: 'cancelled', running: 'running' };
const PALETTE = 8;

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function title(text) {
  return s('title', {}, text);
}

function round(n) {
  return Math.round(n * 10) / 10;
}

export function span(ms) {
  const sec = ms / 1000;
  if (sec < 10) return `${round(sec)}s`;
  if (sec < 60) return `${Math.round(sec)}s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m}m ${String(Math.round(sec % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** A clock time, with the date when it is not today. */
export function clock(ms, withSeconds = true) {
  const d = new Date(ms);
  const opts = withSeconds ? { hour: '2-digit', minute: '2-digit', second: '2-digit' } : { hour: '2-digit', minute: '2-digit' };
  if (new Date().toDateString() === d.toDateString()) return d.toLocaleTimeString([], opts);
  return `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${d.toLocaleTimeString([], opts)}`;
}

/** Evenly spaced ticks between a and b, about `n` of them. */
function ticks(a, b, n) {
  if (b <= a) return [a];
  const out = [];
  for (let i = 0; i <= n; i++) out.push(a + ((b - a) * i) / n);
  return out;
}

/**
 * The timeline of a batch: a lane per node, a bar per attempt from its start to its end
 * (or now, while it runs), coloured by outcome; the finalize step's bar is marked. When jobs
 * wait for others (after:) or the finalize step waits, a last lane shows them as a dashed
 * bar up to now.
 */
export function timeline(attempts, now, waiting = { jobs: 0, first: [], finalize: false }) {
  const nodes = [...new Set(attempts.map((a) => a.node))].sort();
  const waits = waiting.jobs > 0 || waiting.finalize;
  const t0 = attempts.length ? Math.min(...attempts.map((a) => a.started)) : now - 1000;
  const t1 = Math.max(t0 + 1000, now, ...attempts.map((a) => a.ended ?? now));
  const W = 640, left = 64, right = 8, top = 6, lane = 24, axis = 22;
  const lanes = nodes.length + (waits ? 1 : 0);
  const H = top + lanes * lane + axis;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
  const svg = s('svg', { class: 'chart timeline', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `timeline: ${attempts.length} attempts on ${nodes.length} nodes${waits ? ', jobs waiting' : ''}` });
  nodes.forEach((node, i) => {
    const y = top + i * lane;
    const g = s('g', { class: 'lane', 'data-node': node },
      s('rect', { class: 'lane-bg', x: left, y, width: W - left - right, height: lane - 4 }),
      s('text', { class: 'lane-label', x: left - 8, y: y + lane / 2 + 2, 'text-anchor': 'end' }, node.length > 10 ? `${node.slice(0, 9)}…` : node));
    for (const a of attempts.filter((a) => a.node === node)) {
      const end = a.ended ?? now;
      const bx = x(a.started);
      const what = a.finalize ? 'the finalize step' : a.job;
      g.append(s('rect', { class: 'attempt', 'data-outcome': a.outcome, 'data-job': a.job, 'data-finalize': a.finalize ? '' : null, x: round(bx), y: y + 3, width: round(Math.max(2, x(end) - bx)), height: lane - 10 },
        title(`${what} · attempt ${a.attempt} on ${node} · ${span(end - a.started)} · ${OUTCOME_NAMES[a.outcome] || a.outcome}`)));
      if (a.finalize) g.append(s('text', { class: 'finalize-label', x: round(Math.min(bx + 3, W - right - 40)), y: y + lane / 2 + 2 }, 'finalize'));
    }
    svg.append(g);
  });
  if (waits) {
    const y = top + nodes.length * lane;
    const who = [
      waiting.jobs > 0 ? `${waiting.jobs} job${waiting.jobs === 1 ? '' : 's'} waiting for others (${waiting.first.join(', ')}${waiting.jobs > waiting.first.length ? ', …' : ''})` : '',
      waiting.finalize ? 'the finalize step waits for every other job to end' : '',
    ].filter(Boolean).join('; ');
    const label = [waiting.jobs > 0 ? `${waiting.jobs} waiting` : '', waiting.finalize ? 'finalize waits' : ''].filter(Boolean).join(' · ');
    svg.append(s('g', { class: 'lane', 'data-waiting': '' },
      s('rect', { class: 'lane-bg', x: left, y, width: W - left - right, height: lane - 4 }),
      s('text', { class: 'lane-label', x: left - 8, y: y + lane / 2 + 2, 'text-anchor': 'end' }, 'waiting'),
      s('rect', { class: 'waiting-bar', x: left, y: y + 3, width: round(Math.max(2, x(now) - left)), height: lane - 10 }, title(who)),
      s('text', { class: 'waiting-label', x: left + 4, y: y + lane / 2 + 2 }, label)));
  }
  const baseline = top + lanes * lane;
  svg.append(s('line', { class: 'axis', x1: left, x2: W - right, y1: baseline, y2: baseline }));
  for (const t of ticks(t0, t1, 4)) {
    svg.append(s('text', { class: 'tick', x: round(x(t)), y: baseline + 16, 'text-anchor': t === t0 ? 'start' : t === t1 ? 'end' : 'middle' }, t === t0 ? clock(t) : `+${span(t - t0)}`));
  }
  return svg;
}

export function outcomeLegend(attempts) {
  const counts = {};
  for (const a of attempts) counts[a.outcome] = (counts[a.outcome] || 0) + 1;
  const el = document.createElement('div');
  el.className = 'legend';
  for (const o of OUTCOMES) {
    if (!counts[o]) continue;
    const item = document.createElement('span');
    const dot = document.createElement('span');
    dot.className = 'dot';
    dot.dataset.outcome = o;
    item.append(dot, `${counts[o]} ${OUTCOME_NAMES[o]}`);
    el.append(item);
  }
  return el;
}

/** A histogram of how long the ended attempts ran. */
export function histogram(attempts) {
  const runs = attempts.filter((a) => a.ended !== null && (a.outcome === 'ok' || a.outcome === 'failed')).map((a) => a.ended - a.started);
  const W = 320, H = 150, left = 28, right = 8, top = 8, bottom = 26;
  const svg = s('svg', { class: 'chart histogram', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `run times of ${runs.length} attempts` });
  if (!runs.length) {
    svg.append(s('text', { class: 'tick', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no attempt has ended yet'));
    return svg;
  }
  const lo = Math.min(...runs);
  const hi = Math.max(...runs);
  const bins = Math.max(1, Math.min(24, Math.ceil(Math.sqrt(runs.length)) + 2));
  const width = (hi - lo) / bins || 1;
  const counts = new Array(bins).fill(0);
  for (const r of runs) counts[Math.min(bins - 1, Math.floor((r - lo) / width))]++;
  const most = Math.max(...counts);
  const bw = (W - left - right) / bins;
  const y = (n) => top + (H - top - bottom) * (1 - n / most);
  counts.forEach((n, i) => {
    if (!n) return;
    svg.append(s('rect', { class: 'hist-bar', x: round(left + i * bw + 1), y: round(y(n)), width: round(Math.max(1, bw - 2)), height: round(H - bottom - y(n)), 'data-count': n },
      title(`${n} attempt${n === 1 ? '' : 's'} took ${span(lo + i * width)}–${span(lo + (i + 1) * width)}`)));
  });
  svg.append(s('line', { class: 'axis', x1: left, x2: W - right, y1: H - bottom, y2: H - bottom }));
  svg.append(s('text', { class: 'tick', x: left, y: H - bottom + 16, 'text-anchor': 'start' }, span(lo)));
  svg.append(s('text', { class: 'tick', x: W - right, y: H - bottom + 16, 'text-anchor': 'end' }, span(hi)));
  svg.append(s('text', { class: 'tick', x: left - 6, y: top + 8, 'text-anchor': 'end' }, String(most)));
  svg.append(s('text', { class: 'tick', x: left - 6, y: H - bottom, 'text-anchor': 'end' }, '0'));
  return svg;
}

/**
 * Cluster utilisation from `/v1/usage`: cpus busy per node, stacked, over the range; a
 * dashed line at the cpus all of them offer.
 */
export function utilisation(usage) {
  const W = 960, H = 220, left = 40, right = 12, top = 10, bottom = 28;
  const svg = s('svg', { class: 'chart utilisation', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `cpus busy per node since ${clock(usage.since)}` });
  const step = usage.step_ms;
  // a cluster younger than the range starts at its first sample, not in an empty stretch
  const first = Math.min(...usage.nodes.map((n) => (n.samples.length ? n.samples[0].at : Infinity)));
  const t0 = Math.max(usage.since - (usage.since % step), Number.isFinite(first) ? first : 0);
  const t1 = usage.until;
  const capacity = usage.nodes.reduce((sum, n) => sum + n.cpus, 0);
  const grid = [];
  for (let t = t0; t <= t1; t += step) grid.push(t);
  const busyAt = usage.nodes.map((n) => new Map(n.samples.map((p) => [p.at, p.busy])));
  const stacked = grid.map(() => 0);
  const layers = usage.nodes.map((n, i) => {
    const low = stacked.slice();
    grid.forEach((t, k) => (stacked[k] += busyAt[i].get(t) ?? 0));
    return { node: n, low, high: stacked.slice() };
  });
  const ymax = Math.max(1, capacity, ...stacked);
  const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (W - left - right);
  const y = (v) => top + (H - top - bottom) * (1 - v / ymax);
  layers.forEach((l, i) => {
    // each step is drawn flat from its start to the next one's
    const upper = grid.flatMap((t, k) => [`${round(x(t))},${round(y(l.high[k]))}`, `${round(x(Math.min(t + step, t1)))},${round(y(l.high[k]))}`]);
    const lower = grid.map((t, k) => [`${round(x(Math.min(t + step, t1)))},${round(y(l.low[k]))}`, `${round(x(t))},${round(y(l.low[k]))}`]).reverse().flat();
    const busySteps = l.node.samples.filter((p) => p.busy > 0).length;
    svg.append(s('path', { class: `usage-area c${i % PALETTE}`, 'data-node': l.node.name, 'data-busy-steps': busySteps, d: `M${upper.join('L')}L${lower.join('L')}Z` },
      title(`${l.node.name}: ${l.node.cpus} cpus, busy in ${busySteps} of ${l.node.samples.length} samples`)));
  });
  if (capacity > 0) svg.append(s('line', { class: 'capacity', x1: left, x2: W - right, y1: y(capacity), y2: y(capacity) }, title(`${capacity} cpus offered`)));
  svg.append(s('line', { class: 'axis', x1: left, x2: W - right, y1: H - bottom, y2: H - bottom }));
  svg.append(s('text', { class: 'tick', x: left - 6, y: round(y(ymax)) + 8, 'text-anchor': 'end' }, String(round(ymax))));
  svg.append(s('text', { class: 'tick', x: left - 6, y: H - bottom, 'text-anchor': 'end' }, '0'));
  for (const t of ticks(t0, t1, 4)) svg.append(s('text', { class: 'tick', x: round(x(t)), y: H - bottom + 16, 'text-anchor': t === t0 ? 'start' : t === t1 ? 'end' : 'middle' }, clock(t, step < 60_000)));
  return svg;
}

export function nodeLegend(usage) {
  const el = document.createElement('div');
  el.className = 'legend';
  usage.nodes.forEach((n, i) => {
    const item = document.createElement('span');
    const dot = document.createElement('span');
    dot.className = `dot c${i % PALETTE}`;
    item.append(dot, `${n.name} (${n.cpus} cpus)`);
    el.append(item);
  });
  return el;
}
