// Builds the example app (`nest build` → dist/src/main.js) when its output is missing or
// older than any .ts source under src/ or libs/. Used by `npm start` and by the e2e
// global setup (tests that start the app as a child process need dist/ built once, before
// Jest's workers run in parallel). Spec files do not count: they are not part of the build.
'use strict';
const { spawnSync } = require('node:child_process');
const { buildClientIfStale } = require('./build-client.js');
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
    } else if (item.name.endsWith('.ts') && !item.name.endsWith('.spec.ts')) {
      newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  }
  return newest;
}

/** Returns the entry file; throws if the build fails. The demo page's client bundle too. */
function buildIfStale({ quiet = false } = {}) {
  buildClientIfStale({ quiet });
  const sources = Math.max(newestMtime(path.join(root, 'src')), newestMtime(path.join(root, 'libs')));
  const built = fs.existsSync(entry) ? fs.statSync(entry).mtimeMs : 0;
  if (built < sources) {
    if (!quiet) console.log('building the example app ...');
    const result = spawnSync(process.execPath, [require.resolve('@nestjs/cli/bin/nest.js'), 'build'], {
      cwd: root,
      stdio: quiet ? 'pipe' : 'inherit',
    });
    if (result.status !== 0) {
      throw new Error(`nest build failed (${result.status}):\n${result.stdout ?? ''}${result.stderr ?? ''}`);
    }
    fs.utimesSync(entry, new Date(), new Date());
  }
  return entry;
}

module.exports = { buildIfStale, entry };

if (require.main === module) buildIfStale();
