import { execFile, type ExecFileOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Redis } from 'ioredis';

/**
 * The two packages as they are published, used the way an app uses them. Builds both, packs
 * them (`npm pack`), checks the tarballs and `npm publish --dry-run`, then makes fresh
 * consumer apps in a temp dir: CommonJS and ESM, with and without ioredis. Each one installs
 * the tarballs with a real `npm install --offline` (peers not installed by npm: the repo's
 * own copies are linked into its node_modules afterwards, as an app that has them would),
 * compiles with `skipLibCheck: false`, boots a Nest app on listen(0) and streams one task to
 * its `end`: with the packed client in the ESM apps, with plain fetch in the CommonJS ones.
 * The Redis apps use 127.0.0.1:6379 under a key prefix of their own, deleted afterwards.
 */

const ROOT = resolve(__dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const REDIS_URL = 'redis://127.0.0.1:6379';
const KEY_PREFIX = `pack-consume:${process.pid}:${Date.now()}:`;
/** What a consumer app has besides our packages: Nest, our required peers and @types/node. */
const PEERS = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/platform-express',
  '@nestjs/schedule',
  'rxjs',
  'reflect-metadata',
  '@types/node',
];
const PACKAGES = [
  { name: 'nest-sse-resume', dir: 'libs/sse-resume' },
  { name: 'nest-sse-resume-client', dir: 'libs/sse-resume-client' },
] as const;

// eslint-disable-next-line @typescript-eslint/no-require-imports -- plain CommonJS build scripts
const { buildIfStale: buildLib } = require(join(ROOT, 'scripts/build-lib.js')) as { buildIfStale(): string };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildClientIfStale: buildClient } = require(join(ROOT, 'scripts/build-client.js')) as {
  buildClientIfStale(options: { quiet: boolean }): string;
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  command: string,
  args: string[],
  options: ExecFileOptions & { timeout?: number } = {},
): Promise<Run> {
  return new Promise((done) => {
    execFile(
      command,
      args,
      { encoding: 'utf8', maxBuffer: 32 << 20, ...options },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        done({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** At most `limit` of the given jobs at once (2 cores, other tests running). */
function limiter(limit: number): <T>(job: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (job) => {
    if (active >= limit) await new Promise<void>((go) => waiting.push(go));
    active++;
    try {
      return await job();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

function manifest(dir: string): Record<string, unknown> & {
  name: string;
  version: string;
  exports: Record<string, string | Record<string, string>>;
  typesVersions: Record<string, Record<string, string[]>>;
} {
  return JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'));
}

/** The server side of every consumer app: one task type, the start and stream routes. */
const APP_MODULE = (imports: string, options: string) => `
import { Body, Controller, Module, Param, Post, Sse, type MessageEvent } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { LastEventId, ResumeKey, SseResume, SseResumeModule, SseTaskService } from 'nest-sse-resume';
import type { Observable } from 'rxjs';
${imports}

export interface DemoEvents { progress: { step: number; total: number } }
export interface DemoResult { steps: number }

@Controller('tasks')
export class TasksController {
  constructor(private readonly tasks: SseTaskService) {}

  @Post()
  start(@Body() body: { steps?: number }) {
    const total = body.steps ?? 3;
    return this.tasks.start<DemoEvents, DemoResult>(async ({ emit }) => {
      for (let step = 1; step <= total; step++) await emit({ step, total });
      return { steps: total };
    });
  }

  @Sse(':taskId/events')
  @SseResume()
  events(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
    @LastEventId() lastEventId: number | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey, lastEventId });
  }
}

@Module({
  imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot(${options})],
  controllers: [TasksController],
})
export class AppModule {}

/** Asks for the Redis store where ioredis is not installed. */
@Module({ imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot({ redis: { url: '${REDIS_URL}' } })] })
export class RedisWithoutIoredisModule {}
`;

/** The test kit entry, compiled and loaded (not run). */
const CONTRACT = `
import { describeTaskStoreContract, type TestRunnerFunctions } from 'nest-sse-resume/testing';
import { InMemoryTaskStore } from 'nest-sse-resume';

export function registerContract(runner: TestRunnerFunctions): void {
  describeTaskStoreContract('InMemoryTaskStore', { makeStore: (limits) => new InMemoryTaskStore(limits), ...runner });
}
`;

/** Streams one task with fetch and a hand-written SSE reader (what a CommonJS app without the client does). */
const FETCH_FOLLOW = `
import type { TaskStreamEvent } from 'nest-sse-resume-client';
import type { taskEvents$ } from 'nest-sse-resume-client/rxjs';
import type { DemoEvents, DemoResult } from './app.module.js';

export type DemoEvent = TaskStreamEvent<DemoEvents, DemoResult>;
export type Rx = typeof taskEvents$;

export async function follow(baseUrl: string): Promise<string[]> {
  const started = await fetch(baseUrl + '/tasks', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ steps: 3 }),
  });
  const { taskId, resumeKey } = (await started.json()) as { taskId: string; resumeKey: string };
  const response = await fetch(baseUrl + '/tasks/' + taskId + '/events', { headers: { 'x-resume-key': resumeKey } });
  if (!response.body) throw new Error('no body');
  const seen: string[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\\n\\n')) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const id = /^id: (.*)$/m.exec(frame)?.[1];
      if (id === undefined || !/^data:/m.test(frame)) continue; // a comment, the first frame (id: 0, retry)
      const type = /^event: (.*)$/m.exec(frame)?.[1] ?? 'message';
      const data = JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? 'null') as { status?: string; result?: DemoResult };
      seen.push(type === 'end' ? type + ':' + id + ':' + data.status + ':' + data.result?.steps : type + ':' + id);
      if (type === 'end') {
        await reader.cancel();
        return seen;
      }
    }
  }
  throw new Error('the stream closed before its end event: ' + JSON.stringify(seen));
}
`;

/** Streams one task with the packed client. */
const CLIENT_FOLLOW = `
import { SseResumeClient, memoryStorage } from 'nest-sse-resume-client';
import { taskEvents$ } from 'nest-sse-resume-client/rxjs';
import type { DemoEvents, DemoResult } from './app.module.js';

export type Rx = typeof taskEvents$;

export async function follow(baseUrl: string): Promise<string[]> {
  const client = new SseResumeClient({ baseUrl, storage: memoryStorage() });
  const task = await client.start<DemoEvents, DemoResult>({ steps: 3 });
  const seen: string[] = [];
  for await (const event of task) {
    if (event.type === 'end') seen.push(event.type + ':' + event.id + ':' + event.status + ':' + event.result?.steps);
    else seen.push(event.type + ':' + event.id);
  }
  return seen;
}
`;

/** Boots the app, streams one task, checks the missing-ioredis message if it applies, prints JSON. */
const MAIN = (redis: boolean) => `
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule, RedisWithoutIoredisModule } from './app.module.js';
import { follow } from './follow.js';
import { registerContract } from './contract.js';

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const events = await follow(await app.getUrl());
  await app.close();
  let withoutIoredis = 'not tried';
  if (${!redis}) {
    withoutIoredis = await NestFactory.create(RedisWithoutIoredisModule, { logger: false, abortOnError: false }).then(
      async (other) => { await other.close(); return 'booted'; },
      (err: Error) => err.message,
    );
  }
  console.log(JSON.stringify({ events, withoutIoredis, contract: typeof registerContract }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
`;

interface Consumer {
  name: string;
  type: 'commonjs' | 'module';
  ioredis: boolean;
  compilerOptions: Record<string, unknown>;
  /** Code that imports the redis entry point, and the SseResumeModule options. */
  redisImports: string;
  options: string;
  follow: string;
}

const NODENEXT = { module: 'nodenext', moduleResolution: 'nodenext' };
const CONSUMERS: Consumer[] = [
  {
    // Nest 12's CommonJS template: module nodenext in a package without "type".
    name: 'CommonJS (module nodenext), memory store, no ioredis',
    type: 'commonjs',
    ioredis: false,
    compilerOptions: NODENEXT,
    redisImports: '',
    options: '{ ttl: 60_000 }',
    follow: FETCH_FOLLOW,
  },
  {
    // The legacy set-up: node10 resolution finds the subpath types through typesVersions.
    name: 'CommonJS (module commonjs, moduleResolution node10), RedisTaskStore from nest-sse-resume/redis',
    type: 'commonjs',
    ioredis: true,
    compilerOptions: { module: 'commonjs', moduleResolution: 'node10', ignoreDeprecations: '6.0' },
    redisImports: "import { RedisTaskStore } from 'nest-sse-resume/redis';",
    options: `{ ttl: 60_000, store: (limits) => new RedisTaskStore(limits, { url: '${REDIS_URL}', keyPrefix: process.env.KEY_PREFIX }) }`,
    follow: FETCH_FOLLOW,
  },
  {
    name: 'ESM (nodenext), memory store, no ioredis, the client',
    type: 'module',
    ioredis: false,
    compilerOptions: NODENEXT,
    redisImports: '',
    options: '60_000',
    follow: CLIENT_FOLLOW,
  },
  {
    name: 'ESM (nodenext, no DOM lib), the redis option, the client',
    type: 'module',
    ioredis: true,
    compilerOptions: { ...NODENEXT, lib: ['es2023'] },
    redisImports: "import type { RedisTaskStoreOptions } from 'nest-sse-resume/redis';",
    options: `{ ttl: 60_000, redis: { url: '${REDIS_URL}', keyPrefix: process.env.KEY_PREFIX } satisfies RedisTaskStoreOptions }`,
    follow: CLIENT_FOLLOW,
  },
];

/** Browser code using the client (DOM, bundler resolution): compiled only. */
const BROWSER = `
import { SseResumeClient, TaskNotFoundError, type TaskStreamEvent } from 'nest-sse-resume-client';
import { taskEvents$ } from 'nest-sse-resume-client/rxjs';

interface DemoEvents { progress: { step: number; total: number } }
interface DemoResult { steps: number }

export async function follow(bar: HTMLProgressElement): Promise<void> {
  const client = new SseResumeClient();
  const task = await client.start<DemoEvents, DemoResult>({ steps: 3 });
  for await (const event of task) if (event.type === 'progress') bar.value = event.data.step / event.data.total;
  const all: TaskStreamEvent<DemoEvents, DemoResult>[] = [];
  taskEvents$<DemoEvents, DemoResult>(client, task.taskId).subscribe((event) => all.push(event)).unsubscribe();
  console.log(new TaskNotFoundError(404, 'TASK_NOT_FOUND', 'x', {}) instanceof Error);
}
`;

describe('the packages as published', () => {
  let work: string;
  const tarballs = new Map<string, { file: string; files: string[] }>();
  const results = new Map<string, Promise<{ steps: string[]; output?: Record<string, unknown> }>>();
  const exclusive = limiter(2);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'sse-packages-'));
    buildLib();
    buildClient({ quiet: true });
    for (const { name, dir } of PACKAGES) {
      const packed = await run('npm', ['pack', '--json', '--pack-destination', work], {
        cwd: join(ROOT, dir),
      });
      if (packed.code !== 0) throw new Error(`npm pack ${name}: ${packed.stderr}`);
      const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
      tarballs.set(name, { file: join(work, info!.filename), files: info!.files.map((f) => f.path) });
    }
    for (const consumer of CONSUMERS) results.set(consumer.name, consume(consumer));
    // Answered by their own tests; a rejection here would surface there.
    for (const result of results.values()) result.catch(() => undefined);
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled(results.values());
    rmSync(work, { recursive: true, force: true });
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const keys: string[] = [];
      for await (const batch of redis.scanStream({ match: `${KEY_PREFIX}*`, count: 1000 }))
        keys.push(...(batch as string[]));
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });

  /** A fresh app dir: npm install of the tarballs, peers linked, sources, tsc, node. */
  async function consume(consumer: Consumer): Promise<{ steps: string[]; output?: Record<string, unknown> }> {
    const steps: string[] = [];
    const app = mkdtempSync(join(work, 'app-'));
    const step = async (name: string, command: string, args: string[], options: ExecFileOptions = {}) => {
      const result = await run(command, args, { cwd: app, timeout: 120_000, ...options });
      if (result.code !== 0)
        throw new Error(
          `${consumer.name}: ${name} failed (${result.code}):\n${result.stdout}${result.stderr}`,
        );
      steps.push(name);
      return result;
    };
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: consumer.type }),
    );
    // No peers from npm (offline, and the repo has them): --legacy-peer-deps installs the tarballs alone.
    await step('npm install', 'npm', [
      'install',
      '--offline',
      '--no-audit',
      '--no-fund',
      '--legacy-peer-deps',
      ...[...tarballs.values()].map((t) => t.file),
    ]);
    for (const peer of [...PEERS, ...(consumer.ioredis ? ['ioredis'] : [])]) {
      mkdirSync(dirname(join(app, 'node_modules', peer)), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', peer), join(app, 'node_modules', peer), 'dir');
    }
    mkdirSync(join(app, 'src'));
    writeFileSync(join(app, 'src/app.module.ts'), APP_MODULE(consumer.redisImports, consumer.options));
    writeFileSync(join(app, 'src/contract.ts'), CONTRACT);
    writeFileSync(join(app, 'src/follow.ts'), consumer.follow);
    writeFileSync(join(app, 'src/main.ts'), MAIN(consumer.ioredis));
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          skipLibCheck: false,
          target: 'es2023',
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          esModuleInterop: true,
          types: ['node'],
          rootDir: 'src',
          outDir: 'dist',
          ...consumer.compilerOptions,
        },
        include: ['src'],
      }),
    );
    await exclusive(() => step('tsc', process.execPath, [TSC, '-p', app]));
    const booted = await step('node', process.execPath, ['dist/main.js'], {
      timeout: 30_000,
      env: { ...process.env, KEY_PREFIX: `${KEY_PREFIX}${consumer.type}:` },
    });
    const line = booted.stdout.trim().split('\n').pop() ?? '';
    return { steps, output: JSON.parse(line) as Record<string, unknown> };
  }

  it.each([...PACKAGES])(
    '$name: the tarball has its README, LICENSE, CHANGELOG, entries and types, and no dangling maps',
    ({ name, dir }) => {
      const { files } = tarballs.get(name)!;
      const pkg = manifest(dir);
      expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']));
      expect(readFileSync(join(ROOT, dir, 'LICENSE'), 'utf8')).toBe(
        readFileSync(join(ROOT, 'LICENSE'), 'utf8'),
      );
      // Every export and typesVersions target is in the tarball; every subpath with types has a typesVersions entry.
      const targets = Object.values(pkg.exports).flatMap((target) =>
        typeof target === 'string' ? [target] : Object.values(target),
      );
      const typed = Object.entries(pkg.exports).filter(
        ([, target]) => typeof target !== 'string' && target.types,
      );
      const typesVersions = pkg.typesVersions['*']!;
      for (const [subpath] of typed.filter(([subpath]) => subpath !== '.')) {
        expect([subpath, typesVersions[subpath.slice(2)]]).toEqual([
          subpath,
          [(pkg.exports[subpath] as Record<string, string>).types],
        ]);
      }
      for (const target of [...targets, ...Object.values(typesVersions).flat()])
        expect(files).toContain(target.replace(/^\.\//, ''));
      expect(files.filter((file) => /(^|\/)src\/|\.spec\.|tsconfig/.test(file))).toEqual([]);
      // Source maps only where they carry their sources (the client's minified browser bundle).
      const maps = files.filter((file) => file.endsWith('.map'));
      expect(maps).toEqual(
        name === 'nest-sse-resume-client' ? ['dist/browser/sse-resume-client.js.map'] : [],
      );
      for (const map of maps) {
        const { sources, sourcesContent } = JSON.parse(readFileSync(join(ROOT, dir, map), 'utf8')) as {
          sources: string[];
          sourcesContent?: string[];
        };
        expect(sourcesContent?.length).toBe(sources.length);
      }
      expect(pkg).toMatchObject({
        license: 'MIT',
        repository: {
          type: 'git',
          url: 'git+https://github.com/nest-sse-resume/nest-sse-resume.git',
          directory: dir,
        },
        homepage: expect.stringMatching(/^https:\/\/github\.com\/nest-sse-resume\/nest-sse-resume\//),
        bugs: { url: 'https://github.com/nest-sse-resume/nest-sse-resume/issues' },
        sideEffects: false,
        publishConfig: { access: 'public' },
        engines: { node: expect.stringMatching(/^>=20/) },
      });
      expect((pkg.keywords as string[]).length).toBeGreaterThan(3);
      expect(pkg.version).toBe(manifest(PACKAGES[0].dir).version); // released together
    },
  );

  it('nest-sse-resume: ES modules, and its README is the root one made for npm', () => {
    const { files } = tarballs.get('nest-sse-resume')!;
    expect(files).toContain('dist/package.json');
    expect(JSON.parse(readFileSync(join(ROOT, 'libs/sse-resume/dist/package.json'), 'utf8'))).toEqual({
      type: 'module',
    });
    const readme = readFileSync(join(ROOT, 'libs/sse-resume/README.md'), 'utf8');
    expect(readme).toMatch(/^# nest-sse-resume\n/);
    expect(readme).toContain('## Quick start');
    expect(readme).toContain('## Install');
    expect(readme).not.toContain('## Two commands');
    // Links work on npmjs.com: absolute, or anchors.
    expect(
      [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((link) => !/^(https:|#)/.test(link!)),
    ).toEqual([]);
  });

  it.each([...PACKAGES])(
    '$name: npm publish --dry-run is clean',
    async ({ dir }) => {
      const published = await run('npm', ['publish', '--dry-run', '--offline'], { cwd: join(ROOT, dir) });
      expect(published.code).toBe(0);
      // The only warning: no npm login here, which a dry run does not need.
      const warnings = published.stderr
        .split('\n')
        .filter((line) => /npm (warn|WARN|error|ERR)/.test(line))
        .filter((line) => !/requires you to be logged in .*\(dry-run\)/.test(line));
      expect(warnings).toEqual([]);
    },
    60_000,
  );

  it.each(CONSUMERS.map((consumer) => [consumer.name, consumer] as const))(
    'a fresh app, %s: installs, compiles with skipLibCheck false, boots and streams a task to its end',
    async (name, consumer) => {
      const { steps, output } = await results.get(name)!;
      expect(steps).toEqual(['npm install', 'tsc', 'node']);
      expect(output).toEqual({
        events: ['progress:1', 'progress:2', 'progress:3', 'end:4:completed:3'],
        withoutIoredis: consumer.ioredis ? 'not tried' : expect.stringMatching(/npm install ioredis/),
        contract: 'function',
      });
    },
    240_000,
  );

  it('the client compiles in a browser project (DOM, bundler resolution) with skipLibCheck false', async () => {
    const project = mkdtempSync(join(work, 'browser-'));
    mkdirSync(join(project, 'node_modules'));
    await run('tar', ['-xzf', tarballs.get('nest-sse-resume-client')!.file, '-C', project]);
    await run('mv', [join(project, 'package'), join(project, 'node_modules/nest-sse-resume-client')]);
    symlinkSync(join(ROOT, 'node_modules/rxjs'), join(project, 'node_modules/rxjs'), 'dir');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(project, 'browser.ts'), BROWSER);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          target: 'es2022',
          lib: ['es2022', 'dom', 'dom.iterable'],
          types: [],
          module: 'esnext',
          moduleResolution: 'bundler',
        },
        files: ['browser.ts'],
      }),
    );
    const compiled = await exclusive(() => run(process.execPath, [TSC, '-p', project], { cwd: project }));
    expect(`${compiled.stdout}${compiled.stderr}`).toBe('');
    expect(compiled.code).toBe(0);
  }, 120_000);
});
