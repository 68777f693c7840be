/**
 * resumable-stream (npm, Vercel) on Redis, with its "explicit resumption" API: the stream
 * is created once at start-up (`createNewResumableStream`, as a POST that starts a
 * generation would), fed one SSE frame per `enqueue`, and every `GET /stream` is a
 * `resumeExistingStream` reader that receives the stream through Redis pub/sub. The
 * producer's own copy of the stream is drained locally (the "first client").
 *
 * It resumes by character offset, not by event id: this server maps `Last-Event-ID` to the
 * offset of the end of that event (an in-process table; the workloads connect without it).
 * Keys: `<BENCH_KEY_PREFIX>:rs:*` on REDIS_URL (default redis://127.0.0.1:6379), deleted on exit.
 */
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { createResumableStreamContext } from 'resumable-stream/ioredis';
import {
  announce,
  drained,
  Emitter,
  frameOf,
  handleControl,
  lastEventIdOf,
  listenOptions,
  SSE_HEADERS,
  unsupported,
} from '../common';

const STREAM_ID = 'bench';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const keyPrefix = process.env.BENCH_KEY_PREFIX ?? `ssebench:${process.pid}`;

async function main(): Promise<void> {
  const publisher = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const subscriber = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await Promise.all([publisher.connect(), subscriber.connect()]);
  } catch (err) {
    unsupported(`no Redis at ${redisUrl} (${err instanceof Error ? err.message : String(err)})`);
  }
  const context = createResumableStreamContext({ waitUntil: null, publisher, subscriber, keyPrefix });

  let producer: ReadableStreamDefaultController<string> | undefined;
  /** offsets[id] = characters of the stream up to the end of event `id`. */
  const offsets: number[] = [0];
  let open = 0;

  const emitter = new Emitter({
    event(id, data) {
      const frame = frameOf(id, JSON.stringify(data));
      offsets.push(offsets[offsets.length - 1]! + frame.length);
      producer!.enqueue(frame);
    },
  });

  const own = await context.createNewResumableStream(
    STREAM_ID,
    () =>
      new ReadableStream<string>({
        start(controller) {
          producer = controller;
        },
      }),
  );
  if (!own || !producer) throw new Error('resumable-stream did not create the stream');
  void (async () => {
    const reader = own.getReader();
    while (!(await reader.read()).done);
  })();

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (handleControl(req, res, url, { open: () => open, emitter })) return;
    if (req.method !== 'GET' || url.pathname !== '/stream') {
      res.writeHead(404).end();
      return;
    }
    const skip = offsets[Math.min(lastEventIdOf(req.headers), offsets.length - 1)]!;
    void (async () => {
      const stream = await context.resumeExistingStream(STREAM_ID, skip);
      if (!stream) {
        res.writeHead(204).end();
        return;
      }
      const reader = stream.getReader();
      res.writeHead(200, SSE_HEADERS);
      res.flushHeaders();
      open++;
      res.on('close', () => {
        open--;
        void reader.cancel().catch(() => undefined);
      });
      for (;;) {
        const { done, value } = await reader.read();
        if (done || res.destroyed) break;
        if (value && !res.write(value)) await drained(res);
      }
      if (!res.destroyed) res.end();
    })().catch((err: unknown) => {
      console.error(err);
      if (!res.headersSent) res.writeHead(500);
      res.destroy();
    });
  });

  server.listen(listenOptions(), () => {
    const address = server.address();
    announce(typeof address === 'object' && address ? address.port : 0, async () => {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await publisher.scan(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...found);
      } while (cursor !== '0');
      if (keys.length > 0) await publisher.del(...keys);
      publisher.disconnect();
      subscriber.disconnect();
    });
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
