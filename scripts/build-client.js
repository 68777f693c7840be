#!/usr/bin/env node
// `npm run build:client`: builds the client package (libs/sse-resume-client):
// - dist/*.js + .d.ts: the ESM package (tsc), one module per file, so bundlers tree-shake it;
// - dist/browser/sse-resume-client.js: one minified ES module of the core entry, which the
//   example app serves to its demo page (and whose size the benchmark reports).
// `--sizes` prints the min and min+gzip sizes of the core entry and of the parser alone.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const root = path.resolve(__dirname, '..');
const packageDir = path.join(root, 'libs', 'sse-resume-client');
const dist = path.join(packageDir, 'dist');
const bundle = path.join(dist, 'browser', 'sse-resume-client.js');

/** Minified and min+gzip bytes of `entry` (an .ts file) bundled alone, or of `contents`. */
function measure(contents) {
  const esbuild = require('esbuild');
  const result = esbuild.buildSync({
    stdin: { contents, resolveDir: path.join(packageDir, 'src'), loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    write: false,
  });
  const code = result.outputFiles[0].contents;
  return { min: code.length, gzip: zlib.gzipSync(code, { level: 9 }).length };
}

/** Sizes of what an app pays for each way of importing the client. */
function sizes() {
  return {
    'core entry (everything in index)': measure("export * from './index';"),
    'SseResumeClient only': measure("export { SseResumeClient } from './index';"),
    'SseParser only': measure("export { SseParser } from './index';"),
  };
}

function build({ quiet = false } = {}) {
  fs.rmSync(dist, { recursive: true, force: true });
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(packageDir, 'tsconfig.lib.json')], {
    cwd: root,
    stdio: quiet ? 'pipe' : 'inherit',
  });
  if (tsc.status !== 0) throw new Error(`tsc failed for the client:\n${tsc.stdout ?? ''}${tsc.stderr ?? ''}`);
  require('esbuild').buildSync({
    entryPoints: [path.join(packageDir, 'src', 'index.ts')],
    outfile: bundle,
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    legalComments: 'none',
  });
  return bundle;
}

/** Newest mtime of the client's non-spec sources and build settings. */
function newestSource() {
  const dir = path.join(packageDir, 'src');
  return Math.max(
    ...fs
      .readdirSync(dir)
      .filter((name) => name.endsWith('.ts') && !name.endsWith('.spec.ts'))
      .map((name) => fs.statSync(path.join(dir, name)).mtimeMs),
    fs.statSync(__filename).mtimeMs,
    fs.statSync(path.join(packageDir, 'tsconfig.lib.json')).mtimeMs,
  );
}

/** Builds when the bundle is missing or older than a source. */
function buildClientIfStale(options) {
  const built = fs.existsSync(bundle) ? fs.statSync(bundle).mtimeMs : 0;
  if (built < newestSource()) build(options);
  return bundle;
}

module.exports = { build, buildClientIfStale, bundle, sizes };

if (require.main === module) {
  build();
  console.log(`built ${path.relative(root, dist)}/ and ${path.relative(root, bundle)}`);
  if (process.argv.includes('--sizes')) {
    for (const [name, { min, gzip }] of Object.entries(sizes())) {
      console.log(`${name.padEnd(34)} ${String(min).padStart(6)} B min  ${String(gzip).padStart(5)} B min+gzip`);
    }
  }
}
