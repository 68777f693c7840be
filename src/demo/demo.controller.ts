import { Controller, Get, Header, InternalServerErrorException, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DEMO_PAGE } from './demo-page';

/** The client bundle's file name, and its URL relative to the page. */
export const CLIENT_BUNDLE = 'sse-resume-client.js';

/** Where `npm run build:client` writes the bundle, relative to the repository root. */
const BUNDLE_DIR = join('libs', 'sse-resume-client', 'dist', 'browser');

/**
 * The repository root: the first directory at or above `from` that holds the client
 * package. The app runs from `src/demo` (ts, tests) or `dist/src/demo` (built), and `dist/`
 * has no client package of its own, so both find the same root.
 */
export function findRepoRoot(from: string = __dirname): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'libs', 'sse-resume-client', 'package.json'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * A file of the client bundle (`sse-resume-client.js` or its `.map`), read on each request so
 * that a rebuild shows at the next reload. A missing bundle is a 500 that says how to build it.
 */
export async function readClientFile(name: string, root: string | undefined): Promise<string> {
  const missing = () =>
    new InternalServerErrorException(
      `the demo page's client bundle ${BUNDLE_DIR}/${name} is missing: run \`npm run build:client\``,
    );
  if (root === undefined) throw missing();
  try {
    return await readFile(join(root, BUNDLE_DIR, name), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw missing();
    throw error;
  }
}

/**
 * Serves the demo page at `/` and the client it imports at `/sse-resume-client.js` (the ES
 * module built from libs/sse-resume-client by `npm run build:client`, and its source map).
 */
@Controller()
export class DemoController {
  /** The repository root the bundle is read from (found once; a test may point it elsewhere). */
  root: string | undefined = findRepoRoot();

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  page(): string {
    return DEMO_PAGE;
  }

  @Get(CLIENT_BUNDLE)
  async bundle(@Res({ passthrough: true }) response: unknown): Promise<string> {
    return this.send(
      response,
      await readClientFile(CLIENT_BUNDLE, this.root),
      'text/javascript; charset=utf-8',
    );
  }

  @Get(`${CLIENT_BUNDLE}.map`)
  async sourceMap(@Res({ passthrough: true }) response: unknown): Promise<string> {
    return this.send(
      response,
      await readClientFile(`${CLIENT_BUNDLE}.map`, this.root),
      'application/json; charset=utf-8',
    );
  }

  /** Headers set here, not with `@Header()`, so that an error answer keeps its JSON type. */
  private send(response: unknown, body: string, contentType: string): string {
    const adapter = this.adapterHost.httpAdapter;
    adapter.setHeader(response, 'Content-Type', contentType);
    // Revalidated on each load: a rebuilt client is picked up, an unchanged one is a 304.
    adapter.setHeader(response, 'Cache-Control', 'no-cache');
    adapter.setHeader(response, 'X-Content-Type-Options', 'nosniff');
    return body;
  }
}
