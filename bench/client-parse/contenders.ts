/**
 * The contenders of `npm run bench:client`, each reading one recorded stream through a fake
 * `fetch` (in-process `ReadableStream`, no sockets) to its `end` event. Every consumer does
 * the same work per event: `JSON.parse` of the data (our client does it itself, the peers'
 * consumers do it), a check that events come in order, a count.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fetchEventSource } from '@microsoft/fetch-event-source';
import * as esbuild from 'esbuild';
import { EventSource } from 'eventsource';
import type {
  SseParser as SseParserClass,
  SseResumeClient as SseResumeClientClass,
} from '../../libs/sse-resume-client/src/index.js' with { 'resolution-mode': 'import' };
import type { Recording } from './recording';

export interface ClientModule {
  SseResumeClient: typeof SseResumeClientClass;
  SseParser: typeof SseParserClass;
}

/**
 * Bundles the client from `srcDir` (its `index.ts`) into one CommonJS file and loads it:
 * the bench always measures the current source (or another copy of it, `--compare-src`).
 * Not minified, so CPU profiles name the functions; target ES2022 like the package.
 */
export function loadClient(srcDir: string, outFile: string): ClientModule {
  esbuild.buildSync({
    entryPoints: [join(srcDir, 'index.ts')],
    outfile: outFile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'es2022',
    logLevel: 'error',
  });
  const load = createRequire(__filename);
  return load(outFile) as ClientModule;
}

const URL_OF_TASK = 'http://bench.invalid/tasks/t1/events';

/**
 * A `fetch` answering every request with 200 `text/event-stream` and a body that hands out
 * `chunks` one per read (a pull source: nothing is queued ahead of the reader). Aborting the
 * request's signal errors the body, as a real fetch does.
 */
export function fakeFetch(chunks: readonly Uint8Array[]): typeof fetch {
  return (_input, init) => {
    const signal = init?.signal ?? undefined;
    let next = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          signal?.addEventListener('abort', () => controller.error(signal.reason), { once: true });
        },
        pull(controller) {
          if (next < chunks.length) controller.enqueue(chunks[next++]!);
          else controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    return Promise.resolve(
      new Response(body, {
        status: 200,
        headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
      }),
    );
  };
}

export interface Contender {
  name: string;
  /** A third-party client the target compares against. */
  peer: boolean;
  /** Reads the stream to `end`; resolves to the events delivered (progress + end). Throws on any disorder. */
  run(recording: Recording, chunks: readonly Uint8Array[]): Promise<number>;
}

class Disorder extends Error {}

function expectData(data: { i?: unknown }, expected: number, who: string): void {
  if (data.i !== expected) throw new Disorder(`${who}: event ${expected} carried i=${String(data.i)}`);
}

function expectEnd(count: number, recording: Recording, who: string, lastId: string): number {
  if (count !== recording.events) throw new Disorder(`${who}: ${count} of ${recording.events} events`);
  if (lastId !== String(recording.events + 1)) throw new Disorder(`${who}: end id ${lastId}`);
  return count + 1;
}

/** `SseResumeClient.stream()`: the whole client (resume bookkeeping, storage, outcomes). */
export function ourClient(module: ClientModule, name = 'SseResumeClient'): Contender {
  return {
    name,
    peer: false,
    async run(recording, chunks) {
      const client = new module.SseResumeClient({
        baseUrl: 'http://bench.invalid/',
        fetch: fakeFetch(chunks),
      });
      let count = 0;
      for await (const event of client.stream('t1', { resumeKey: 'k1' })) {
        if (event.type === 'end') return expectEnd(count, recording, name, String(event.id));
        count++;
        if (event.id !== count) throw new Disorder(`${name}: event ${count} has id ${event.id}`);
        expectData((event as { data?: { i?: unknown } }).data ?? {}, count, name);
      }
      throw new Disorder(`${name}: no end after ${count} events`);
    },
  };
}

/** `SseParser` alone behind the same reader loop: the floor under the client. */
export function ourParser(module: ClientModule, name = 'SseParser (bare, reference)'): Contender {
  return {
    name,
    peer: false,
    async run(recording, chunks) {
      const response = await fakeFetch(chunks)(URL_OF_TASK);
      const reader = response.body!.getReader();
      let count = 0;
      let end: string | undefined;
      const parser = new module.SseParser({
        onEvent(event) {
          const data = JSON.parse(event.data);
          if (event.type === 'end') end = event.lastEventId;
          else expectData(data, ++count, name);
        },
      });
      try {
        while (end === undefined) {
          const chunk = await reader.read();
          if (chunk.done) break;
          parser.push(chunk.value);
        }
      } finally {
        await reader.cancel();
      }
      return expectEnd(count, recording, name, end ?? '');
    },
  };
}

/** The `data` of every event of `recording` (progress events, then `end`), as strings. */
function dataOf(recording: Recording): string[] {
  const text = new TextDecoder().decode(recording.bytes);
  const out: string[] = [];
  for (const frame of text.split('\n\n')) {
    const lines = frame.split('\n').filter((line) => line.startsWith('data: '));
    if (lines.length > 0) out.push(lines.map((line) => line.slice(6)).join('\n'));
  }
  return out;
}

/**
 * `JSON.parse` of every event's data, nothing else (strings cut from the decoded body
 * beforehand): the work every consumer here does per event, so a floor under all of them.
 */
export function jsonFloor(): Contender {
  const name = 'JSON.parse alone (floor)';
  const cache = new WeakMap<Recording, string[]>();
  return {
    name,
    peer: false,
    async run(recording) {
      let data = cache.get(recording);
      if (!data) cache.set(recording, (data = dataOf(recording)));
      let count = 0;
      for (let k = 0; k < recording.events; k++) expectData(JSON.parse(data[k]!), ++count, name);
      JSON.parse(data[recording.events]!);
      return expectEnd(count, recording, name, String(recording.events + 1));
    },
  };
}

/** `eventsource` 4 with its `fetch` option; listeners for `progress` and `end`. */
export function eventsourcePackage(): Contender {
  const name = 'eventsource 4.1.1';
  return {
    name,
    peer: true,
    run(recording, chunks) {
      return new Promise((resolve, reject) => {
        const source = new EventSource(URL_OF_TASK, { fetch: fakeFetch(chunks) });
        let count = 0;
        // A throw inside a listener would become an uncaught exception: fail the run instead.
        const fail = (error: unknown): void => {
          source.close();
          reject(error instanceof Error ? error : new Error(String(error)));
        };
        source.addEventListener('progress', (event: MessageEvent) => {
          try {
            expectData(JSON.parse(event.data as string), ++count, name);
          } catch (error) {
            fail(error);
          }
        });
        source.addEventListener('end', (event: MessageEvent) => {
          source.close();
          try {
            JSON.parse(event.data as string);
            resolve(expectEnd(count, recording, name, event.lastEventId));
          } catch (error) {
            fail(error);
          }
        });
        source.onerror = (event) => fail(new Error(`${name}: error event ${event.message ?? ''}`));
      });
    },
  };
}

interface BrowserShims {
  window?: unknown;
  document?: unknown;
}

/**
 * `@microsoft/fetch-event-source` 2.0.1 with `fetch` and `openWhenHidden: true`. It calls
 * `window.setTimeout`/`clearTimeout` and `document.removeEventListener` even then, so minimal
 * `window`/`document` shims exist during its runs only. Its `onmessage` also receives the
 * frames without data (the open frame, pings): the consumer skips them.
 */
export function fetchEventSourcePackage(): Contender {
  const name = '@microsoft/fetch-event-source 2.0.1';
  return {
    name,
    peer: true,
    async run(recording, chunks) {
      const global = globalThis as BrowserShims;
      global.window = { setTimeout, clearTimeout };
      global.document = { hidden: false, addEventListener() {}, removeEventListener() {} };
      const stop = new AbortController();
      let count = 0;
      let end: string | undefined;
      try {
        await fetchEventSource(URL_OF_TASK, {
          fetch: fakeFetch(chunks),
          openWhenHidden: true,
          signal: stop.signal,
          onmessage(message) {
            if (message.data === '') return;
            const data = JSON.parse(message.data);
            if (message.event === 'end') {
              end = message.id;
              stop.abort();
            } else expectData(data, ++count, name);
          },
          onerror(error: unknown) {
            throw error; // no retry: fail the run
          },
        });
      } finally {
        delete global.window;
        delete global.document;
      }
      return expectEnd(count, recording, name, end ?? '');
    },
  };
}
