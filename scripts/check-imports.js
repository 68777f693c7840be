#!/usr/bin/env node
/**
 * Fails (exit 1) when the library or the example app has an import cycle, or the library
 * breaks a layering rule, printing each case. Reads imports (type-only ones too) with
 * TypeScript's own pre-processor; spec files are left out. Part of `npm run lint`.
 *
 * Layering rules:
 * - `interfaces/` imports nothing from `stores/` (the main entry's types must not reach a
 *   store's dependencies);
 * - only `stores/redis/`, the `redis` entry, the test kit (`testing/`, not shipped but for
 *   the contract suite) and the BullMQ bridges (`durable/`, `queue-streams/`: bullmq, their
 *   optional peer, brings ioredis; they load both lazily) import `ioredis`, an optional peer;
 * - only `health/*.health-indicator.ts` and the `terminus` entry import `@nestjs/terminus`, an
 *   optional peer; no library file imports `@nestjs/swagger` (the decorators only set the
 *   metadata it reads);
 * - only `metrics/otel-metrics.ts` and the test kit import `@opentelemetry/*`: the api is an
 *   optional peer, loaded there lazily (`await import()`, once, when the module starts), so
 *   the main entry runs without it;
 * - the client (`libs/sse-resume-client/src`) imports only its own files: no runtime
 *   dependencies, not even Node built-ins, since it runs in browsers too; the one exception
 *   is its `rxjs` entry (`rxjs.ts`), which imports `rxjs`, an optional peer; nothing imports
 *   that entry, so the core entry stays free of it.
 */
const { readdirSync, readFileSync, existsSync, statSync } = require('node:fs');
const { dirname, join, relative, resolve } = require('node:path');
const ts = require('typescript');

const ROOT = resolve(__dirname, '..');
const DIRS = ['libs/sse-resume/src', 'libs/sse-resume-client/src', 'src'].map((dir) => join(ROOT, dir));

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.ts$/.test(name) && !/\.(e2e-)?spec\.ts$/.test(name) ? [path] : [];
  });
}

function resolveImport(from, specifier) {
  if (!specifier.startsWith('.')) return undefined;
  const base = resolve(dirname(from), specifier.replace(/\.js$/, ''));
  return [`${base}.ts`, join(base, 'index.ts')].find((candidate) => existsSync(candidate));
}

const LIB = join(ROOT, 'libs/sse-resume/src');
const CLIENT = join(ROOT, 'libs/sse-resume-client/src');
const layering = [];
const graph = new Map();
for (const file of DIRS.flatMap(sources)) {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const targets = importedFiles.map((imported) => resolveImport(file, imported.fileName)).filter((t) => t);
  graph.set(file, targets);
  if (!relative(CLIENT, file).startsWith('..')) {
    for (const { fileName } of importedFiles) {
      const inClient = relative(CLIENT, file);
      if (fileName.startsWith('.')) {
        if (/(^|\/)rxjs(\.js)?$/.test(fileName)) layering.push(`client ${inClient} imports the rxjs entry`);
      } else if (!(inClient === 'rxjs.ts' && fileName === 'rxjs')) {
        layering.push(`client ${inClient} imports ${fileName}`);
      }
    }
    continue;
  }
  if (!file.startsWith(LIB)) continue;
  const inLib = relative(LIB, file);
  if (inLib.startsWith('interfaces/')) {
    for (const target of targets) {
      if (relative(LIB, target).startsWith('stores/'))
        layering.push(`${inLib} imports ${relative(LIB, target)}`);
    }
  }
  const ioredis = importedFiles.some((imported) => imported.fileName === 'ioredis');
  if (ioredis && !/^(stores\/redis|testing|durable|queue-streams)\//.test(inLib) && inLib !== 'redis.ts') {
    layering.push(
      `${inLib} imports ioredis (only stores/redis/, durable/, queue-streams/ and the redis entry may)`,
    );
  }
  const terminus = importedFiles.some((imported) => imported.fileName === '@nestjs/terminus');
  if (terminus && !/^health\/[^/]+\.health-indicator\.ts$/.test(inLib) && inLib !== 'terminus.ts') {
    layering.push(
      `${inLib} imports @nestjs/terminus (only health/*.health-indicator.ts and the terminus entry may)`,
    );
  }
  if (importedFiles.some((imported) => imported.fileName.startsWith('@nestjs/swagger'))) {
    layering.push(`${inLib} imports @nestjs/swagger (the library only sets the metadata it reads)`);
  }
  const otel = importedFiles.filter((imported) => imported.fileName.startsWith('@opentelemetry/'));
  if (otel.length > 0 && inLib !== 'metrics/otel-metrics.ts' && !inLib.startsWith('testing/')) {
    layering.push(`${inLib} imports ${otel[0].fileName} (only metrics/otel-metrics.ts and testing/ may)`);
  }
}

// Depth-first search; a back edge to a file on the current path closes a cycle.
const cycles = new Set();
const state = new Map(); // file -> 'open' | 'done'
const path = [];
function visit(file) {
  state.set(file, 'open');
  path.push(file);
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === 'open') {
      const cycle = path.slice(path.indexOf(next)).map((f) => relative(ROOT, f));
      cycles.add([...cycle, cycle[0]].join(' -> '));
    } else if (!state.has(next)) visit(next);
  }
  path.pop();
  state.set(file, 'done');
}
for (const file of graph.keys()) if (!state.has(file)) visit(file);

if (cycles.size > 0) {
  console.error(`import cycles (${cycles.size}):\n${[...cycles].map((c) => `  ${c}`).join('\n')}`);
}
if (layering.length > 0)
  console.error(`layering (${layering.length}):\n${layering.map((l) => `  ${l}`).join('\n')}`);
if (cycles.size > 0 || layering.length > 0) process.exit(1);
console.log(`no import cycles in ${graph.size} files; layering kept`);
