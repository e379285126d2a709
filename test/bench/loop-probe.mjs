// Loaded into the head by the capacity section (`node --import`): measures the head's
// event-loop delay with Node's own histogram and writes its figures, as JSON, to
// $LOOP_PROBE_FILE every 250 ms. SIGUSR2 starts a fresh histogram (the measured window).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';

const file = process.env.LOOP_PROBE_FILE;
if (file) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  process.on('SIGUSR2', () => h.reset());
  const write = () => {
    const ms = (ns) => (Number.isFinite(ns) ? ns / 1e6 : 0);
    writeFileSync(file, JSON.stringify({ p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), count: h.count }));
  };
  setInterval(write, 250).unref();
}
