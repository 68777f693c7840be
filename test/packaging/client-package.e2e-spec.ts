import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startApp, type RunningApp } from '../utils/start-app';

const ROOT = resolve(__dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const CLIENT = join(ROOT, 'libs/sse-resume-client');
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a plain CommonJS build script
const { build } = require(join(ROOT, 'scripts/build-client.js')) as {
  build(options: { quiet: boolean }): string;
};

function tsc(cwd: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [TSC, '-p', cwd], { cwd, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Code a consumer writes: every entry, the generics shared with the server, the errors. */
const CONSUMER = `
import { SseResumeClient, TaskNotFoundError, memoryStorage, type TaskStreamEvent } from 'nest-sse-resume-client';
import { taskEvents$ } from 'nest-sse-resume-client/rxjs';

interface DemoEvents { progress: { step: number; total: number } }
interface DemoResult { steps: number }

export async function follow(baseUrl: string): Promise<number[]> {
  const client = new SseResumeClient({ baseUrl, storage: memoryStorage(), reconnect: { maxRetries: 5 } });
  const task = await client.start<DemoEvents, DemoResult>({ steps: 3, intervalMs: 0 });
  const ids: number[] = [];
  for await (const event of task) {
    ids.push(event.id);
    if (event.type === 'progress') ids.push(event.data.total - event.data.step >= 0 ? 0 : -1);
    if (event.type === 'end' && event.result) ids.push(event.result.steps);
  }
  const all: TaskStreamEvent<DemoEvents, DemoResult>[] = [];
  taskEvents$<DemoEvents, DemoResult>(client, task.taskId).subscribe((event) => all.push(event)).unsubscribe();
  return ids.concat(new TaskNotFoundError(404, 'TASK_NOT_FOUND', 'x', {}) instanceof Error ? [] : [-1]);
}
`;

/**
 * The client as it is published: `npm pack` of its folder after `npm run build:client`,
 * unpacked into a consumer's node_modules. Its declarations compile with skipLibCheck false
 * for a browser project (DOM, bundler resolution) and a Node project (no DOM, nodenext), and
 * its ESM runs in Node against the example app.
 */
describe('the client package as published', () => {
  let dir: string;
  let app: RunningApp;
  let tarball: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sse-client-consumer-'));
    build({ quiet: true });
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: CLIENT, encoding: 'utf8' }),
    ) as { filename: string; files: { path: string }[] }[];
    tarball = join(dir, packed[0]!.filename);
    const modules = join(dir, 'node_modules');
    const unpacked = join(modules, 'nest-sse-resume-client');
    mkdirSync(unpacked, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1']);
    mkdirSync(join(modules, '@types'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules/rxjs'), join(modules, 'rxjs'), 'dir');
    symlinkSync(join(ROOT, 'node_modules/@types/node'), join(modules, '@types/node'), 'dir');
    app = await startApp('express');
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds the ESM build, its declarations and the README, and nothing else', () => {
    const list = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    const files = list.map((path) => path.replace(/^package\//, ''));
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/rxjs.js',
        'dist/rxjs.d.ts',
      ]),
    );
    expect(files.filter((file) => /\.spec\.|(^|\/)src\/|tsconfig/.test(file))).toEqual([]);
  });

  it.each([
    [
      'a browser project (DOM, bundler resolution)',
      { lib: ['es2022', 'dom'], types: [], module: 'esnext', moduleResolution: 'bundler' },
    ],
    [
      'a Node project (no DOM, nodenext)',
      { lib: ['es2022'], types: ['node'], module: 'nodenext', moduleResolution: 'nodenext' },
    ],
  ])(
    'compiles in %s with skipLibCheck false',
    (_name, options) => {
      const project = mkdtempSync(join(dir, 'project-'));
      symlinkSync(join(dir, 'node_modules'), join(project, 'node_modules'), 'dir');
      writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module' }));
      writeFileSync(join(project, 'consumer.ts'), CONSUMER);
      writeFileSync(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, target: 'es2022', ...options },
          files: ['consumer.ts'],
        }),
      );
      expect(tsc(project)).toEqual({ status: 0, output: '' });
    },
    120_000,
  );

  it('runs in Node as published: starts a task and streams it to its end', async () => {
    const script = `
      import { SseResumeClient } from 'nest-sse-resume-client';
      const client = new SseResumeClient({ baseUrl: process.argv[1] });
      const task = await client.start({ steps: 3, intervalMs: 0 });
      const seen = [];
      for await (const event of task) seen.push(event.type + ':' + event.id);
      console.log(JSON.stringify(seen));
    `;
    // Asynchronously: the app answering it runs in this process.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', script, app.baseUrl],
      {
        cwd: dir,
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(JSON.parse(stdout)).toEqual(['progress:1', 'progress:2', 'progress:3', 'end:4']);
  });
});
