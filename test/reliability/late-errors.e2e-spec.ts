import { Logger } from '@nestjs/common';
import { InMemoryTaskStore, StoreUnavailableError } from '@app/sse-resume';
import { FaultyTaskStore, type FaultyMethod } from '@app/sse-resume/testing/faulty-store';
import { type Adapter, startTestApp, type TestApp } from '@app/sse-resume/testing/nest-app';
import { TaskStreamController } from '@app/sse-resume/testing/stream-controller';
import { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRaw, rawRequest } from '@app/sse-resume/testing/raw-http';
import { freePort, PrivateRedis } from '@app/sse-resume/testing/private-redis';
import { parseFrames } from '@app/sse-resume/testing/sse';

/** Events per replay read: 5 events + end = 3 reads. */
const CHUNK = 2;
const EVENTS = 5;
/** An internal message that must never reach a client. */
const INTERNAL = 'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest"';
const OPEN = 'id: 0\nretry: 2000\n\n';

type Route = 'events' | 'nest-events';

interface FaultCase {
  name: string;
  method: FaultyMethod;
  call: number;
  /** The failing call waits until the client has the response head. */
  afterHead: boolean;
  /** Events 1..sentBefore reach the client before the failure. */
  sentBefore: number;
}

/**
 * Every asynchronous step between the response head and the first event, failed once at a
 * time, early and after the head: a stream whose head is out must end without a frame of
 * its own (no `event: error`, no id but the task's, no internal text), so that the client
 * resumes from its real last id. Before the head the error keeps its HTTP status.
 */
function casesFor(route: Route, frames: boolean): FaultCase[] {
  const cases: FaultCase[] = [];
  // The plain route looks the task up in the subscription; @SseResume() in its guard, before the head.
  // On the @SseResume() route the head waits for the stream to open (watch included), so a watch
  // failure always comes before it: 503 JSON (see "failing before the head" below).
  if (route === 'nest-events') {
    cases.push({ name: 'lookup after the head', method: 'lookup', call: 1, afterHead: true, sentBefore: 0 });
    cases.push({ name: 'watch after the head', method: 'watch', call: 1, afterHead: true, sentBefore: 0 });
  }
  const read: FaultyMethod = frames && route === 'events' ? 'readFrames' : 'read';
  for (let call = 1; call <= 3; call++) {
    for (const afterHead of [false, true]) {
      cases.push({
        name: `${read} #${call}${afterHead ? ' after the head' : ''}`,
        method: read,
        call,
        afterHead,
        sentBefore: (call - 1) * CHUNK,
      });
    }
  }
  return cases;
}

function frame(type: string, id: number, data: string): string {
  return `event: ${type}\nid: ${id}\ndata: ${data}\n\n`;
}

interface Setup {
  adapter: Adapter;
  frames: boolean;
}

const SETUPS: Setup[] = [
  { adapter: 'express', frames: false },
  { adapter: 'fastify', frames: false },
  { adapter: 'express', frames: true },
  { adapter: 'fastify', frames: true },
];

describe.each(SETUPS)(
  'a store failure after the SSE head ($adapter, readFrames: $frames)',
  ({ adapter, frames }) => {
    let testApp: TestApp;
    let store: FaultyTaskStore;
    let task: { taskId: string; resumeKey: string };
    let loggedErrors: string[];

    beforeAll(async () => {
      jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      loggedErrors = [];
      jest.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown, stack?: unknown) => {
        loggedErrors.push(`${String(message)} ${String(stack)}`);
      });
      testApp = await startTestApp(adapter, [TaskStreamController], {
        store: (limits) =>
          (store = new FaultyTaskStore(new InMemoryTaskStore(limits), { replayChunk: CHUNK, frames })),
      });
      task = await testApp.tasks.start(async ({ emit }) => {
        for (let i = 1; i <= EVENTS; i++) await emit({ i });
        return 'ok';
      });
      for (let i = 0; i < 200 && (await testApp.tasks.getTaskInfo(task.taskId)).status === 'running'; i++) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    });

    afterAll(async () => {
      await testApp.close();
      jest.restoreAllMocks();
    });

    afterEach(() => store.disarm());

    function body(sentBefore: number): string {
      let text = '\n' + OPEN;
      for (let i = 1; i <= sentBefore; i++) text += frame('progress', i, JSON.stringify({ i }));
      return text;
    }

    const url = (route: Route) => `${testApp.url}/tasks/${task.taskId}/${route}?key=${task.resumeKey}`;

    it.each<Route>(['events', 'nest-events'])('/%s without a failure: the whole stream', async (route) => {
      const response = await rawRequest(url(route));
      expect(response.status).toBe(200);
      expect(response.text).toBe(
        body(EVENTS) + frame('end', EVENTS + 1, '{"status":"completed","result":"ok"}'),
      );
    });

    describe.each<Route>(['events', 'nest-events'])('/%s', (route) => {
      it.each(casesFor(route, frames))(
        '$name: the stream ends with the task’s own frames only',
        async (fault) => {
          const errorsBefore = loggedErrors.length;
          let release!: () => void;
          const headSeen = new Promise<void>((resolve) => (release = resolve));
          store.arm({
            method: fault.method,
            call: fault.call,
            error: new StoreUnavailableError(INTERNAL),
            ...(fault.afterHead && { after: headSeen }),
          });
          const connection = openRaw(url(route));
          if (fault.afterHead) {
            await connection.waitFor((c) => c.head !== undefined, 'the response head');
            // Nest writes its "\n" with the head; wait for it too, so that the failure comes after both.
            await connection.waitFor((c) => c.text.length > 0, 'the first body byte');
            release();
          }
          const response = await connection.done;

          expect(response.status).toBe(200);
          expect(response.endedBy).toBe('complete'); // the server ended the response (last chunk)
          expect(response.text).not.toContain('event: error');
          expect(response.text).not.toContain('max retries');
          const ids = parseFrames(response.text).frames.flatMap((f) =>
            f.id === undefined ? [] : [Number(f.id)],
          );
          expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i)); // 0 (the resume point), then 1, 2, ...
          if (fault.afterHead && fault.method !== 'read' && fault.method !== 'readFrames') {
            expect(response.text).toBe('\n'); // failed before the open frame: nothing but Nest's "\n"
          } else {
            expect(response.text).toBe(body(fault.sentBefore));
          }
          // The error is logged on the server, with its text.
          expect(loggedErrors.slice(errorsBefore).join('\n')).toContain('max retries');
        },
      );

      it.each<FaultyMethod>(['watch', ...(route === 'nest-events' ? (['lookup'] as const) : [])])(
        '%s failing before the head: 503 JSON, as before',
        async (method) => {
          // With @SseResume() the guard's lookup is the first one.
          store.arm({ method, call: 1, error: new StoreUnavailableError('down') });
          const response = await rawRequest(url(route));
          expect(response.status).toBe(503);
          expect(response.headers['content-type']).toMatch(/^application\/json/);
          expect(JSON.parse(response.text)).toMatchObject({ statusCode: 503, code: 'STORE_UNAVAILABLE' });
        },
      );
    });
  },
);

/** Streams opened per round, and rounds at most, while pub/sub connections are killed. */
const STREAMS_PER_ROUND = 24;
const MAX_ROUNDS = 40;

/**
 * The same with the real Redis store: its pub/sub connection is killed (`CLIENT KILL TYPE
 * pubsub`) while streams subscribe, so SUBSCRIBE fails or the watch is interrupted between
 * the head and the first event. Every answer is either a status before the head (503 JSON)
 * or the task's own frames, in order, ending cleanly; never `event: error` or a foreign id.
 */
describe('pub/sub connections killed around subscription time (Redis, express)', () => {
  let redis: PrivateRedis;
  let killer: Redis;
  let testApp: TestApp;
  let task: { taskId: string; resumeKey: string };
  let full: string;

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    redis = new PrivateRedis(await freePort(), mkdtempSync(join(tmpdir(), 'sse-redis-')));
    await redis.start();
    killer = new Redis(redis.url);
    testApp = await startTestApp('express', [TaskStreamController], {
      store: 'redis',
      redis: { url: redis.url, keyPrefix: 'late:' },
    });
    task = await testApp.tasks.start(async ({ emit }) => {
      for (let i = 1; i <= EVENTS; i++) await emit({ i });
      return 'ok';
    });
    for (let i = 0; i < 500 && (await testApp.tasks.getTaskInfo(task.taskId)).status === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    full = (await rawRequest(`${testApp.url}/tasks/${task.taskId}/events?key=${task.resumeKey}`)).text;
  });

  afterAll(async () => {
    await testApp?.close();
    killer?.disconnect();
    await redis?.kill();
    rmSync(redis.dir, { recursive: true, force: true });
    jest.restoreAllMocks();
  });

  it('every answer is a status before the head or the task’s own frames, ending cleanly', async () => {
    expect(full).toBe(
      '\n' +
        OPEN +
        Array.from({ length: EVENTS }, (_, i) => frame('progress', i + 1, JSON.stringify({ i: i + 1 }))).join(
          '',
        ) +
        frame('end', EVENTS + 1, '{"status":"completed","result":"ok"}'),
    );
    const tally = { complete: 0, cut: 0, cutBeforeOpen: 0, status503: 0, kills: 0 };
    for (let round = 0; round < MAX_ROUNDS && tally.cutBeforeOpen < 3; round++) {
      const responses = Array.from({ length: STREAMS_PER_ROUND }, (_, i) =>
        rawRequest(
          `${testApp.url}/tasks/${task.taskId}/${i % 2 ? 'nest-events' : 'events'}?key=${task.resumeKey}`,
        ),
      );
      // Kill the subscriber connection a few times while those streams subscribe.
      for (let kill = 0; kill < 3; kill++) {
        await new Promise((resolve) => setTimeout(resolve, kill));
        tally.kills += Number(await killer.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
      }
      for (const response of await Promise.all(responses)) {
        if (response.status === 503) {
          expect(JSON.parse(response.text)).toMatchObject({ statusCode: 503, code: 'STORE_UNAVAILABLE' });
          tally.status503++;
          continue;
        }
        expect(response.status).toBe(200);
        expect(response.endedBy).toBe('complete');
        expect(response.text).not.toContain('event: error');
        // A prefix of the full stream, cut at a frame boundary.
        expect(full.startsWith(response.text)).toBe(true);
        expect(response.text === '\n' || response.text.endsWith('\n\n')).toBe(true);
        if (response.text === full) tally.complete++;
        else {
          tally.cut++;
          if (!response.text.includes('retry:')) tally.cutBeforeOpen++;
        }
      }
      // Let the subscriber connection come back before the next round.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    console.log(`CLIENT KILL TYPE pubsub around subscriptions: ${JSON.stringify(tally)}`);
    expect(tally.kills).toBeGreaterThan(0);
  });
});
