import { InternalServerErrorException } from '@nestjs/common';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLIENT_BUNDLE, findRepoRoot, readClientFile } from './demo.controller';

const ROOT = resolve(__dirname, '..', '..');

describe('findRepoRoot', () => {
  it('finds the repository root from src/demo (ts) and from dist/src/demo (built)', () => {
    expect(findRepoRoot(__dirname)).toBe(ROOT);
    expect(findRepoRoot(join(ROOT, 'dist', 'src', 'demo'))).toBe(ROOT);
  });

  it('is undefined outside the repository', () => {
    expect(findRepoRoot(tmpdir())).toBeUndefined();
  });
});

describe('readClientFile', () => {
  let root: string;
  const bundleDir = () => join(root, 'libs', 'sse-resume-client', 'dist', 'browser');

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'sse-demo-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads the bundle under libs/sse-resume-client/dist/browser', async () => {
    mkdirSync(bundleDir(), { recursive: true });
    writeFileSync(join(bundleDir(), CLIENT_BUNDLE), 'export {};\n');
    await expect(readClientFile(CLIENT_BUNDLE, root)).resolves.toBe('export {};\n');
  });

  it('a missing bundle (or root) is a 500 that says to run npm run build:client', async () => {
    for (const where of [root, undefined]) {
      const error = await readClientFile(CLIENT_BUNDLE, where).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InternalServerErrorException);
      expect((error as InternalServerErrorException).getStatus()).toBe(500);
      expect((error as Error).message).toContain('run `npm run build:client`');
    }
  });

  it('other read errors are not disguised as a missing bundle', async () => {
    mkdirSync(join(bundleDir(), CLIENT_BUNDLE), { recursive: true }); // a directory: EISDIR
    await expect(readClientFile(CLIENT_BUNDLE, root)).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
