#!/usr/bin/env node
// `npm run worker`: builds the example app when its output is missing or older than the
// sources (as `npm start` does), then runs its worker process (dist/src/worker.js): durable
// tasks, no HTTP server, the same environment as `npm start` (REDIS_URL needed).
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const { buildIfStale } = require('./build-if-stale.js');

const root = path.resolve(__dirname, '..');
let entry;
try {
  entry = path.join(path.dirname(buildIfStale()), 'worker.js');
} catch (err) {
  console.error(err.message);
  process.exit(1);
}

const child = spawn(process.execPath, [entry], { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (code !== null || !signal) process.exit(code ?? 0);
  // A graceful shutdown ends by re-raising the signal: end the same way (see start.js).
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
});
