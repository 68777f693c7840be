import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { compiledBlocks, type DocBlock, ROOT } from './doc-blocks';

/**
 * The TypeScript the docs show is compiled as a reader would paste it: the marked blocks
 * (./doc-blocks.ts) become files, a folder per group, in a temporary project inside the
 * repository (so that node_modules resolves) where `nest-sse-resume` and
 * `nest-sse-resume-client` are mapped to their sources. `tsc --strict` compiles the server
 * files as CommonJS and as ESM (`"type": "module"`, what `nest new` makes now) and the
 * browser files with the DOM's types.
 */
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

const source = (path: string): string => join(ROOT, path);
const PATHS = {
  'nest-sse-resume': [source('libs/sse-resume/src/index.ts')],
  'nest-sse-resume/redis': [source('libs/sse-resume/src/redis.ts')],
  'nest-sse-resume/testing': [source('libs/sse-resume/src/testing.ts')],
  'nest-sse-resume-client': [source('libs/sse-resume-client/src/index.ts')],
  'nest-sse-resume-client/rxjs': [source('libs/sse-resume-client/src/rxjs.ts')],
};

const SERVER_OPTIONS = {
  strict: true,
  noEmit: true,
  module: 'node20',
  moduleResolution: 'node16',
  target: 'ES2023',
  lib: ['ES2023'],
  types: ['node'],
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  skipLibCheck: true,
  paths: PATHS,
};

const BROWSER_OPTIONS = {
  strict: true,
  noEmit: true,
  module: 'ES2022',
  moduleResolution: 'bundler',
  target: 'ES2022',
  lib: ['ES2022', 'DOM', 'DOM.Iterable'],
  types: [],
  skipLibCheck: true,
  paths: PATHS,
};

function runTsc(project: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [TSC, '-p', project, '--pretty', 'false'], {
      cwd: dirname(project),
    });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    child.on('close', (status) => resolveRun({ status, output }));
  });
}

describe('code in the docs', () => {
  const { blocks, unmarked } = compiledBlocks();
  let dir: string;

  beforeAll(() => {
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    dir = mkdtempSync(join(ROOT, 'test-artifacts', 'docs-code-'));
  });

  afterAll(() => {
    if (dir && !process.env.KEEP_DOCS_CODE) rmSync(dir, { recursive: true, force: true });
  });

  it('marks every TypeScript block of the Quick start, Options and recipes as compiled', () => {
    expect(unmarked).toEqual([]);
    const groups = new Set(blocks.map((block) => block.group));
    for (const group of ['quick-start', 'options-async']) expect(groups).toContain(group);
    expect([...groups].filter((group) => group.startsWith('recipe-')).length).toBeGreaterThanOrEqual(4);
  });

  it('imports MessageEvent from @nestjs/common wherever it is used (not the DOM type)', () => {
    const users = blocks.filter((block) => /\bMessageEvent\b/.test(block.code));
    expect(users.length).toBeGreaterThan(0);
    for (const block of users) {
      expect({
        at: `${block.doc}:${block.line}`,
        imported: /import (?:type )?\{[^}]*\bMessageEvent\b[^}]*\} from '@nestjs\/common'/.test(block.code),
      }).toEqual({ at: `${block.doc}:${block.line}`, imported: true });
    }
  });

  it('compiles with tsc --strict: server code as CommonJS and as ESM, browser code with the DOM', async () => {
    // One program for both server flavours (each folder's package.json sets its format), so
    // that the library's sources are checked once.
    const projects = [
      { name: 'server', flavours: ['cjs', 'esm'], options: SERVER_OPTIONS, browser: false },
      { name: 'browser', flavours: ['.'], options: BROWSER_OPTIONS, browser: true },
    ];
    const written = new Map<string, DocBlock>();
    const write = (path: string, block: DocBlock): void => {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, block.code);
      written.set(path, block);
    };
    const results = await Promise.all(
      projects.map(async (project) => {
        const root = join(dir, project.name);
        const files: string[] = [];
        for (const flavour of project.flavours) {
          const base = join(root, flavour);
          mkdirSync(base, { recursive: true });
          const type = flavour === 'cjs' ? 'commonjs' : 'module';
          writeFileSync(join(base, 'package.json'), JSON.stringify({ private: true, type }));
          for (const block of blocks.filter((b) => b.browser === project.browser)) {
            const path = join(base, block.group, block.file);
            if (written.has(path)) {
              const earlier = written.get(path)!;
              throw new Error(
                `${block.doc}:${block.line} writes ${block.file} again (${earlier.doc}:${earlier.line})`,
              );
            }
            write(path, block);
            files.push(relative(root, path));
          }
        }
        if (project.browser) {
          // Browser code imports the shared event types beside it: the server's file.
          const groups = new Set(blocks.filter((b) => b.browser).map((b) => b.group));
          for (const block of blocks.filter((b) => !b.browser && groups.has(b.group))) {
            write(join(root, block.group, block.file), block);
          }
        }
        expect(files.length).toBeGreaterThan(0);
        writeFileSync(
          join(root, 'tsconfig.json'),
          JSON.stringify({ compilerOptions: project.options, files }),
        );
        const { status, output } = await runTsc(join(root, 'tsconfig.json'));
        // A failure names the doc and line of the block the error is in.
        const errors = output
          .split('\n')
          .filter((line) => line !== '')
          .map((error) => {
            const match = /^([^()]+)\((\d+),\d+\)/.exec(error);
            const block = match ? written.get(join(root, match[1]!)) : undefined;
            return block ? `${block.doc}:${block.line + Number(match![2])} ${error}` : error;
          });
        return { project: project.name, status, errors };
      }),
    );
    expect(results).toEqual(projects.map((project) => ({ project: project.name, status: 0, errors: [] })));
  }, 180_000);
});
