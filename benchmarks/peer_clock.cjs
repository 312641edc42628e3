// Time compression for a Node process (`node -r peer_clock.cjs ...`), so that a peer's own
// debounce and timers run in the replay's compressed time: every timer delay is divided by
// BENCH_TIME_COMPRESSION and Date.now / performance.now run that many times faster.
"use strict";
const factor = Number(process.env.BENCH_TIME_COMPRESSION || "1");
if (factor > 0 && factor !== 1) {
  const realNow = Date.now;
  const realPerf = performance.now.bind(performance);
  const t0 = realNow();
  const p0 = realPerf();
  Date.now = () => t0 + (realNow() - t0) * factor;
  performance.now = () => p0 + (realPerf() - p0) * factor;
  const realTimeout = global.setTimeout;
  const realInterval = global.setInterval;
  global.setTimeout = (fn, ms, ...args) => realTimeout(fn, (Number(ms) || 0) / factor, ...args);
  global.setInterval = (fn, ms, ...args) => realInterval(fn, (Number(ms) || 0) / factor, ...args);
}
