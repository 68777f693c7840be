#!/usr/bin/env node
// `npm start`: builds the example app when its output is missing or older than the
// sources, then runs it (PORT, default 3000). Plain Node, so it works on a fresh clone.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const { buildIfStale } = require('./build-if-stale.js');

const root = path.resolve(__dirname, '..');
let entry;
try {
  entry = buildIfStale();
} catch (err) {
  console.error(err.message);
  process.exit(1);
}

const child = spawn(process.execPath, [entry], { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (code !== null || !signal) process.exit(code ?? 0);
  // Nest ends a graceful SIGTERM/SIGINT shutdown by re-raising the signal: end the same
  // way, so a clean shutdown does not look like a failure (exit 1) to whoever started us.
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
});
