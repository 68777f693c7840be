import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
/** What a consumer installs besides the library: its required peers, not the optional ioredis. */
const PEERS = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/schedule',
  'rxjs',
  'reflect-metadata',
  '@types/node',
];

function tsc(args: string[], cwd: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [TSC, ...args], { cwd, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * The main entry's type declarations must compile for a consumer without ioredis (an
 * optional peer), with `skipLibCheck: false`: nothing outside `nest-sse-resume/redis` may
 * reach ioredis's types. The library is compiled as it is published, into a consumer's
 * node_modules that holds the required peers only.
 */
describe('a consumer without ioredis, skipLibCheck false', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sse-consumer-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('compiles an app that uses the main entry, the redis settings included', () => {
    const modules = join(dir, 'node_modules');
    const lib = join(modules, 'nest-sse-resume');
    mkdirSync(join(modules, '@nestjs'), { recursive: true });
    mkdirSync(join(modules, '@types'), { recursive: true });
    const build = tsc(
      ['-p', join(ROOT, 'libs/sse-resume/tsconfig.lib.json'), '--outDir', join(lib, 'dist')],
      ROOT,
    );
    expect(build).toEqual({ status: 0, output: '' });
    cpSync(join(ROOT, 'libs/sse-resume/package.json'), join(lib, 'package.json'));
    for (const peer of PEERS) symlinkSync(join(ROOT, 'node_modules', peer), join(modules, peer), 'dir');
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          types: ['node'],
        },
        files: ['app.module.ts'],
      }),
    );
    writeFileSync(
      join(dir, 'app.module.ts'),
      [
        "import { Module } from '@nestjs/common';",
        "import { ScheduleModule } from '@nestjs/schedule';",
        "import { SseResumeModule, SseTaskService, type SseResumeOptions } from 'nest-sse-resume';",
        '',
        "const options: SseResumeOptions = { ttl: 60_000, redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'app:' } };",
        '',
        '@Module({ imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot(options)] })',
        'export class AppModule {',
        '  constructor(readonly tasks: SseTaskService) {}',
        '}',
        '',
      ].join('\n'),
    );
    expect(tsc(['-p', dir], dir)).toEqual({ status: 0, output: '' });
  });
});
