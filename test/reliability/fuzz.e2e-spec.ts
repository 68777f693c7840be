import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import {
  cancelTask,
  createTask,
  type CreatedTask,
  getInfo,
  type JsonResponse,
  requestJson,
  waitForInfo,
} from '../utils/api';
import { rawRequest } from '@app/sse-resume/testing/raw-http';
import { eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';
import { seedFromEnv } from '@app/sse-resume/testing/prng';
import { type Adapter, type RunningApp, startApp } from '../utils/start-app';
import { deleteKeys, TEST_REDIS_URL } from '@app/sse-resume/testing/redis';

/** Property runs per property and configuration (FUZZ_RUNS to run more). */
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
/** Jest's default 5 s is per test, whatever the project config says: room for FUZZ_RUNS. */
const TIMEOUT_MS = 30_000 + RUNS * 20;

interface Config {
  name: string;
  adapter: Adapter;
  redis: boolean;
}

const CONFIGS: Config[] = [
  { name: 'memory, express', adapter: 'express', redis: false },
  { name: 'memory, fastify', adapter: 'fastify', redis: false },
  { name: 'redis, express', adapter: 'express', redis: true },
];

const ERROR_FIELDS = new Set(['statusCode', 'error', 'message', 'code']);

/** A 4xx answer with a JSON error body of the usual fields and nothing else. */
function expectClientError(response: JsonResponse, context: string): void {
  const where = `${context} → ${response.status} ${response.text.slice(0, 300)}`;
  expect({ where, ok: response.status >= 400 && response.status < 500 }).toEqual({ where, ok: true });
  expect({ where, type: response.headers['content-type'] }).toEqual({
    where,
    type: expect.stringMatching(/^application\/json/),
  });
  const body = response.json as Record<string, unknown>;
  expect({ where, status: body.statusCode }).toEqual({ where, status: response.status });
  expect({ where, extra: Object.keys(body).filter((key) => !ERROR_FIELDS.has(key)) }).toEqual({
    where,
    extra: [],
  });
}

/** Printable ASCII: what a header value can carry through any client. */
const asciiText = (maxLength = 40) =>
  fc.string({ unit: 'grapheme-ascii', maxLength }).filter((text) => /^[\x20-\x7e]*$/.test(text));

/** Strings that look like resume points, and some that almost do. */
const resumePointLike = fc.oneof(
  fc.nat({ max: 8 }).map(String),
  fc.integer({ min: -10, max: 10 }).map(String),
  fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
  fc.double().map(String),
  fc.constantFrom(
    '',
    '0',
    '00',
    '03',
    '4',
    '5',
    '-0',
    '+1',
    '1e2',
    '0x1',
    '1.0',
    ' 2 ',
    '2,3',
    '9007199254740991',
    '9007199254740992',
    '9999999999999999',
    '99999999999999999',
    '１',
    '٣',
    'null',
    'undefined',
    'NaN',
    'Infinity',
  ),
  asciiText(),
);

/** How the server reads a resume point: plain digits, at most 16 of them, a safe integer. */
function parsePoint(value: string): number | 'invalid' {
  if (value.length > 16 || !/^[0-9]+$/.test(value)) return 'invalid';
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : 'invalid';
}

/** The DTO rules of POST /tasks (src/tasks/create-task.pipe.ts), as an oracle. */
const FIELDS: Record<string, { min: number; max: number }> = {
  steps: { min: 1, max: 100_000 },
  intervalMs: { min: 0, max: 60_000 },
  payloadBytes: { min: 0, max: 1_048_576 },
  failAt: { min: 0, max: 100_000 },
};

function isValidBody(text: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    return false;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.entries(value).every(([key, field]) => {
    const rule = Object.hasOwn(FIELDS, key) ? FIELDS[key] : undefined;
    return (
      rule !== undefined &&
      typeof field === 'number' &&
      Number.isInteger(field) &&
      field >= rule.min &&
      field <= rule.max
    );
  });
}

/**
 * Guarantee 4: property-based fuzzing (fast-check) of everything a client controls: the
 * resume point (header and query), the resume key (query and header), task ids and POST
 * bodies. Every answer is the valid one when the input happens to be valid, else a 4xx with
 * a JSON error body; never a 5xx; the server goes on serving; and without the right key no
 * request sees a task's data or learns more than "exists" (403) or "not found" (404): the
 * answer is the same for a running and a finished task. Rerun a failure with SSE_RESUME_SEED=<seed>.
 */
describe.each(CONFIGS)('fuzzing ($name)', ({ adapter, redis }: Config) => {
  const prefix = `e2e-fuzz:${process.pid}:${Date.now()}:${adapter}:`;
  let server: RunningApp;
  let base: string;
  /** Completed: progress 1..3, end 4. */
  let done: CreatedTask;
  /** Running for the whole suite (one event per minute). */
  let running: CreatedTask;
  /** Another finished task: its key must not open the others. */
  let other: CreatedTask;
  let seed: number;

  beforeAll(async () => {
    seed = seedFromEnv();
    server = await startApp(adapter, redis ? { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix } : {});
    base = server.baseUrl;
    done = await createTask(base, { steps: 3, intervalMs: 0 });
    other = await createTask(base, { steps: 1, intervalMs: 0 });
    running = await createTask(base, { steps: 10, intervalMs: 60_000 });
    await waitForInfo(base, done, (info) => info.json.status === 'completed', 'the task to end');
    await waitForInfo(base, other, (info) => info.json.status === 'completed', 'the task to end');
  });

  afterAll(async () => {
    // The server kept serving and nothing changed the fixtures.
    const fresh = await createTask(base, { steps: 2, intervalMs: 0 });
    await waitForInfo(base, fresh, (info) => info.json.status === 'completed', 'a fresh task to end');
    const stream = await requestJson(base, 'GET', fresh.streamUrl);
    expect(eventFrames(parseFrames(stream.text).frames).map(idOf)).toEqual([1, 2, 3]);
    expect((await getInfo(base, running.taskId, running.resumeKey)).json).toMatchObject({
      status: 'running',
    });
    expect((await getInfo(base, done.taskId, done.resumeKey)).json).toMatchObject({
      status: 'completed',
      lastEventId: 4,
    });
    await cancelTask(base, running.taskId, running.resumeKey);
    await server.close();
    if (redis) await deleteKeys(prefix);
  });

  const params = () => ({ seed: seed >>> 0, numRuns: RUNS, endOnFailure: true });

  it(
    'resume point (Last-Event-ID header and ?lastEventId=): the exact events, 204 at the end, else 400 JSON',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.option(resumePointLike, { nil: undefined }).map((v) => (v === undefined ? undefined : v)),
          fc.option(fc.oneof(resumePointLike, fc.string({ unit: 'grapheme', maxLength: 20 })), {
            nil: undefined,
          }),
          async (header, query) => {
            const headerValue = header !== undefined && /^[\x20-\x7e]*$/.test(header) ? header : undefined;
            const headers: Record<string, string> = {};
            if (headerValue !== undefined) headers['Last-Event-ID'] = headerValue;
            const path =
              query === undefined
                ? done.streamUrl
                : `${done.streamUrl}&lastEventId=${encodeURIComponent(query)}`;
            const response = await requestJson(base, 'GET', path, { headers });
            // HTTP trims the spaces around a header value; an empty value counts as absent.
            const fromHeader = headerValue?.trim();
            const point =
              fromHeader !== undefined && fromHeader !== ''
                ? parsePoint(fromHeader)
                : query !== undefined && query !== ''
                  ? parsePoint(query)
                  : 0;
            const context = `Last-Event-ID ${JSON.stringify(headerValue)}, lastEventId ${JSON.stringify(query)}`;
            if (point === 'invalid') {
              expectClientError(response, context);
              expect((response.json as { code?: string }).code).toBe('INVALID_RESUME_POINT');
            } else if (point >= 4) {
              expect({ context, status: response.status, text: response.text }).toEqual({
                context,
                status: 204,
                text: '',
              });
            } else {
              expect({ context, status: response.status }).toEqual({ context, status: 200 });
              const ids = eventFrames(parseFrames(response.text).frames).map(idOf);
              expect({ context, ids }).toEqual({ context, ids: [1, 2, 3, 4].slice(point) });
            }
          },
        ),
        params(),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'resume key (query or x-resume-key): anything but the exact key is 403 JSON on every route, and cancels nothing',
    async () => {
      const flipOne = (key: string, at: number, to: string) =>
        key.slice(0, at % key.length) + to + key.slice((at % key.length) + 1);
      const keyArb = (right: string, wrongTask: string) =>
        fc
          .oneof(
            fc.string({ unit: 'grapheme', maxLength: 60 }),
            fc.string({ unit: 'grapheme-ascii', minLength: 40, maxLength: 50 }),
            fc
              .tuple(fc.nat(), fc.constantFrom('A', 'z', '0', '-', '_', '%', '='))
              .map(([at, to]) => flipOne(right, at, to)),
            fc.nat({ max: 42 }).map((n) => right.slice(0, n)),
            fc.constantFrom(
              right.toUpperCase(),
              right.toLowerCase(),
              ` ${right}`,
              `${right} `,
              `${right}=`,
              `${right}\u0000`,
              right + right,
              wrongTask,
              right.replace(/-/g, '+').replace(/_/g, '/'),
              Buffer.from(right, 'base64url').toString('hex'),
              'x'.repeat(2_000),
            ),
          )
          .filter((key) => key !== right);
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('done', 'running'),
          fc.constantFrom('events', 'info', 'delete'),
          fc.constantFrom('query', 'header', 'both', 'twice'),
          fc.nat(),
          async (which, route, carrier, pick) => {
            const task = which === 'done' ? done : running;
            const key = fc.sample(keyArb(task.resumeKey, other.resumeKey), { numRuns: 1, seed: pick })[0]!;
            const headers: Record<string, string> = {};
            let query = '';
            if (carrier === 'query') query = `?key=${encodeURIComponent(key)}`;
            if (carrier === 'twice')
              query = `?key=${encodeURIComponent(key)}&key=${encodeURIComponent(task.resumeKey)}`;
            if (carrier === 'header' || carrier === 'both') {
              if (!/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(key)) return; // not sendable as a header value as is
              headers['x-resume-key'] = key;
            }
            // The query wins over the header: the right key in the header does not help a wrong one in the query.
            if (carrier === 'both') query = `?key=${encodeURIComponent(`${key}!`)}`;
            if (carrier === 'both') headers['x-resume-key'] = task.resumeKey;
            const path = `/tasks/${task.taskId}${route === 'events' ? '/events' : ''}${query}`;
            const response = await requestJson(base, route === 'delete' ? 'DELETE' : 'GET', path, {
              headers,
            });
            const context = `${route} ${which} with key ${JSON.stringify(key.slice(0, 80))} in ${carrier}`;
            expectClientError(response, context);
            expect({
              context,
              status: response.status,
              code: (response.json as { code?: string }).code,
            }).toEqual({
              context,
              status: 403,
              code: 'RESUME_KEY_INVALID',
            });
            expect(response.text).not.toContain('lastEventId');
            expect(response.text).not.toContain(task.resumeKey);
          },
        ),
        params(),
      );
      expect((await getInfo(base, running.taskId, running.resumeKey)).json.status).toBe('running');
    },
    TIMEOUT_MS,
  );

  it(
    'task ids (any string, in the path): 4xx JSON, 404 for all but the real ids, never another task',
    async () => {
      const real = new Set([done.taskId, running.taskId, other.taskId]);
      const idArb = fc.oneof(
        fc.string({ unit: 'grapheme', maxLength: 80 }),
        fc.string({ unit: 'grapheme-ascii', maxLength: 300 }),
        fc.uuid(),
        fc.constantFrom(
          done.taskId.toUpperCase(),
          `${done.taskId} `,
          `${done.taskId}/`,
          `{${done.taskId}}`,
          `${done.taskId}}:meta`,
          `*`,
          `?`,
          `..`,
          `.`,
          `%`,
          `%00`,
          `__proto__`,
          `constructor`,
          'a'.repeat(3_000),
        ),
      );
      await fc.assert(
        fc.asyncProperty(
          idArb,
          fc.constantFrom('events', 'info', 'delete'),
          fc.constantFrom(done, other),
          async (taskId, route, keyOf) => {
            // "." and ".." are no path segment a client can send: URLs resolve them away.
            fc.pre(!real.has(taskId) && taskId !== '.' && taskId !== '..');
            const path = `/tasks/${encodeURIComponent(taskId)}${route === 'events' ? '/events' : ''}?key=${keyOf.resumeKey}`;
            const response = await requestJson(base, route === 'delete' ? 'DELETE' : 'GET', path);
            const context = `${route} of task id ${JSON.stringify(taskId.slice(0, 80))}`;
            expectClientError(response, context);
            // Route misses (".", "..", "/") are Nest's 404; over-long ids are Fastify's 414.
            expect({ context, ok: [400, 404, 414].includes(response.status) }).toEqual({ context, ok: true });
          },
        ),
        params(),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'POST /tasks bodies: 201 exactly when the body is valid JSON of known fields in range, else 4xx JSON',
    async () => {
      const fieldValue = fc.oneof(
        fc.integer({ min: -2, max: 100_002 }),
        fc.integer(),
        fc.double(),
        fc.string({ maxLength: 5 }),
        fc.constantFrom(null, true, false, [], {}, 1.5, -0, 1e21, '5'),
      );
      const objectBody = fc
        .tuple(
          fc.record(
            { steps: fieldValue, intervalMs: fieldValue, payloadBytes: fieldValue, failAt: fieldValue },
            { requiredKeys: [] },
          ),
          fc.dictionary(
            fc.oneof(
              fc.string({ maxLength: 8 }),
              fc.constantFrom('__proto__', 'constructor', 'toString', 'Steps'),
            ),
            fc.jsonValue(),
            { maxKeys: 2 },
          ),
          fc.boolean(),
        )
        .map(([fields, extra, withExtra]) => {
          const text = JSON.stringify(fields);
          if (!withExtra || Object.keys(extra).length === 0) return text;
          const more = Object.entries(extra).map(
            ([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`,
          );
          return text === '{}' ? `{${more.join(',')}}` : `${text.slice(0, -1)},${more.join(',')}}`;
        });
      const bodyArb = fc.oneof(
        { weight: 4, arbitrary: objectBody.map((text) => Buffer.from(text)) },
        { weight: 1, arbitrary: fc.json().map((text) => Buffer.from(text)) },
        {
          weight: 1,
          arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }).map((text) => Buffer.from(text)),
        },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) },
        {
          weight: 1,
          arbitrary: fc
            .tuple(objectBody, fc.nat())
            .map(([text, cut]) => Buffer.from(text.slice(0, cut % Math.max(1, text.length)))),
        },
        {
          weight: 1,
          arbitrary: fc
            .constantFrom(
              '\uFEFF{"steps":1}',
              ' \n{"steps":2}\n ',
              '{"steps":1}x',
              '{"steps":1}{}',
              'x'.repeat(20_000),
            )
            .map((text) => Buffer.from(text)),
        },
      );
      const contentType = fc.constantFrom(
        'application/json',
        'application/json',
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/x-www-form-urlencoded',
        undefined,
      );
      await fc.assert(
        fc.asyncProperty(bodyArb, contentType, async (body, type) => {
          // A raw request: exactly these headers (no Content-Type added when there is none).
          const headers: Record<string, string> = type === undefined ? {} : { 'Content-Type': type };
          const raw = await rawRequest(`${base}/tasks`, { method: 'POST', headers, body });
          const json: unknown =
            /json/.test(raw.headers['content-type'] ?? '') && raw.text !== ''
              ? JSON.parse(raw.text)
              : undefined;
          const response = {
            status: raw.status,
            headers: raw.headers,
            text: raw.text,
            json,
          } as JsonResponse<CreatedTask>;
          const text = body.toString('utf8');
          const context = `${type} ${JSON.stringify(text.slice(0, 200))}`;
          const valid =
            type !== undefined &&
            type.startsWith('application/json') &&
            body.length <= 16_384 &&
            isValidBody(text);
          if (valid) {
            expect({ context, status: response.status }).toEqual({ context, status: 201 });
            await cancelTask(base, response.json.taskId, response.json.resumeKey);
          } else {
            expectClientError(response, context);
          }
        }),
        params(),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'without the right key, a running and a finished task answer alike (403), an unknown one 404: no other oracle',
    async () => {
      const normalize = (response: JsonResponse, taskId: string) => ({
        status: response.status,
        type: response.headers['content-type'],
        retryAfter: response.headers['retry-after'],
        body: response.text.split(taskId).join('<task>'),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(asciiText(50), fc.constant(other.resumeKey), fc.constant('')),
          fc.option(
            resumePointLike.filter((v) => /^[\x20-\x7e]*$/.test(v)),
            { nil: undefined },
          ),
          fc.constantFrom('events', 'info', 'delete'),
          async (key, point, route) => {
            const ask = (taskId: string) =>
              requestJson(
                base,
                route === 'delete' ? 'DELETE' : 'GET',
                `/tasks/${taskId}${route === 'events' ? '/events' : ''}?key=${encodeURIComponent(key)}`,
                { headers: point === undefined ? {} : { 'Last-Event-ID': point } },
              );
            const unknown = randomUUID();
            const [a, b, c] = await Promise.all([ask(running.taskId), ask(done.taskId), ask(unknown)]);
            const context = `${route}, key ${JSON.stringify(key)}, Last-Event-ID ${JSON.stringify(point)}`;
            const badPoint =
              route === 'events' &&
              point !== undefined &&
              point.trim() !== '' &&
              parsePoint(point.trim()) === 'invalid';
            expect({ context, running: normalize(a, running.taskId) }).toEqual({
              context,
              running: normalize(b, done.taskId),
            });
            expect({ context, status: a.status }).toEqual({ context, status: badPoint ? 400 : 403 });
            expect({ context, status: c.status }).toEqual({ context, status: badPoint ? 400 : 404 });
            if (badPoint) expect(normalize(c, unknown)).toEqual(normalize(a, running.taskId));
            for (const response of [a, b, c]) expectClientError(response, context);
          },
        ),
        params(),
      );
    },
    TIMEOUT_MS,
  );
});
