// Runs one entry of the built example app (dist/src/<entry>), building it first when its
// output is missing or older than the sources; passes SIGINT/SIGTERM on and exits as it does.
// Used by `npm start` (main.js) and `npm run worker` (worker.js). Plain Node, for fresh clones.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const { buildIfStale } = require('./build-if-stale.js');

const root = path.resolve(__dirname, '..');

/** Builds if stale, then runs `dist/src/<entry>` (the same folder as the app's main.js). */
function runBuilt(entry) {
  let file;
  try {
    file = path.join(path.dirname(buildIfStale()), entry);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
  const child = spawn(process.execPath, [file], { cwd: root, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (code !== null || !signal) process.exit(code ?? 0);
    // Nest ends a graceful SIGTERM/SIGINT shutdown by re-raising the signal: end the same
    // way, so a clean shutdown does not look like a failure (exit 1) to whoever started us.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
}

module.exports = { runBuilt };
