#!/usr/bin/env node
// `npm start`: builds the example app when its output is missing or older than the
// sources, then runs it (PORT, default 3000). Plain Node, so it works on a fresh clone.
'use strict';
const { spawnSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const entry = path.join(root, 'dist', 'src', 'main.js');

function newestMtime(dir) {
  let newest = 0;
  for (const item of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, item.name);
    if (item.isDirectory()) {
      if (item.name !== 'dist' && item.name !== 'node_modules') newest = Math.max(newest, newestMtime(full));
    } else if (item.name.endsWith('.ts')) {
      newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  }
  return newest;
}

const sources = Math.max(newestMtime(path.join(root, 'src')), newestMtime(path.join(root, 'libs')));
const built = fs.existsSync(entry) ? fs.statSync(entry).mtimeMs : 0;
if (built < sources) {
  console.log('building the example app ...');
  const result = spawnSync(process.execPath, [require.resolve('@nestjs/cli/bin/nest.js'), 'build'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
  fs.utimesSync(entry, new Date(), new Date());
}

const child = spawn(process.execPath, [entry], { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
