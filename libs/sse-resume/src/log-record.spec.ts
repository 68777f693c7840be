import { ConsoleLogger, Logger, type LoggerService } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import { pino } from 'pino';
import { hashResumeKey } from './access/resume-key';
import { errorStack, errorText, LogRecord, logRecord } from './log-record';
import { LOGGER_NAME } from './sse-resume.messages';
import { createCall } from './stores/redis/redis-admission-scripts';
import { RedisConnections } from './stores/redis/redis-connections';
import { RedisKeys } from './stores/redis/redis-keys';
import { RedisKeyspace } from './stores/redis/redis-keyspace';
import { RedisOrphanReaper } from './stores/redis/redis-reaper';
import { SCRIPTS } from './stores/redis/redis-scripts';
import { ResponseSink } from './streams/response-sink';
import { waitForMs } from './testing/async';
import { testStoreLimits } from './testing/limits';
import { CapturingLogger, useLogger } from './testing/log-capture';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from './testing/redis';
import { createService, shutDown } from './testing/service';
import { StalledResponse } from './testing/stalled-response';

/** Runs `fn` with stdout and stderr captured: what a plain `ConsoleLogger` prints. */
function printed(fn: () => void): { stdout: string; stderr: string } {
  const out = { stdout: '', stderr: '' };
  const spies = (['stdout', 'stderr'] as const).map((stream) =>
    jest.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
      out[stream] += String(chunk);
      return true;
    }),
  );
  try {
    fn();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return out;
}

/**
 * What nestjs-pino's `Logger` does with a Nest `LoggerService` call (its README and source):
 * the last parameter is the context; an object message is merged into pino's first argument,
 * the other parameters follow it (so a stack becomes pino's `msg`).
 */
function pinoStyleLogger(lines: string[]): LoggerService {
  const logger = pino(
    { base: undefined, timestamp: false },
    { write: (line: string) => lines.push(line.trim()) },
  );
  const call =
    (level: 'info' | 'error' | 'warn' | 'debug' | 'trace') =>
    (message: unknown, ...params: unknown[]): void => {
      const fields: Record<string, unknown> = {};
      if (params.length > 0) fields.context = params.pop();
      if (typeof message === 'object' && message !== null) {
        Object.assign(fields, message);
        logger[level](fields, ...(params as [string?]));
      } else {
        logger[level](fields, message as string, ...params);
      }
    };
  return {
    log: call('info'),
    error: call('error'),
    warn: call('warn'),
    debug: call('debug'),
    verbose: call('trace'),
  };
}

const STACK = 'Error: boom\n    at run (/app/task.js:1:1)';

describe('logRecord', () => {
  it('keeps the message and the defined fields, and reads as text', () => {
    const record = logRecord('subscriber dropped', {
      taskId: 't-1',
      subscriberId: undefined,
      pendingBytes: 10,
      error: 'a "quoted" reason',
      message: 'not this',
    });
    expect(record).toBeInstanceOf(LogRecord);
    expect({ ...record }).toEqual({
      message: 'subscriber dropped',
      taskId: 't-1',
      pendingBytes: 10,
      error: 'a "quoted" reason',
    });
    expect(Object.keys(record)[0]).toBe('message');
    expect(String(record)).toBe(
      'subscriber dropped taskId=t-1 pendingBytes=10 error="a \\"quoted\\" reason"',
    );
    expect(inspect(record)).toBe(String(record));
    expect(JSON.parse(JSON.stringify(record))).toEqual({ ...record });
  });

  it('describes anything thrown', () => {
    const err = new Error('boom');
    expect(errorText(err)).toBe('boom');
    expect(errorStack(err)).toBe(err.stack);
    expect(errorText('plain')).toBe('plain');
    expect(errorStack({ toString: () => 'odd' })).toBe('odd');
  });
});

describe('what loggers print of a record (through a Nest Logger, context SseResume)', () => {
  const logger = new Logger(LOGGER_NAME);
  let restore: (() => void) | undefined;
  afterEach(() => restore?.());

  it("Nest's JSON ConsoleLogger: the fields under `message`, the stack as `stack`", () => {
    restore = useLogger(new ConsoleLogger({ json: true }));
    const { stdout, stderr } = printed(() => {
      logger.error(logRecord('task failed', { taskId: 't-1', error: 'boom' }), STACK);
      logger.warn(logRecord('subscriber dropped', { taskId: 't-1', subscriberId: 's-1' }));
    });
    expect(JSON.parse(stderr)).toEqual({
      level: 'error',
      pid: process.pid,
      timestamp: expect.any(Number),
      message: { message: 'task failed', taskId: 't-1', error: 'boom' },
      context: 'SseResume',
      stack: STACK,
    });
    expect(JSON.parse(stdout)).toMatchObject({
      level: 'warn',
      message: { message: 'subscriber dropped', taskId: 't-1', subscriberId: 's-1' },
      context: 'SseResume',
    });
  });

  it("Nest's text ConsoleLogger: one readable line, the stack below it", () => {
    restore = useLogger(new ConsoleLogger({ colors: false }));
    const { stdout, stderr } = printed(() => {
      logger.error(logRecord('task failed', { taskId: 't-1', error: 'boom' }), STACK);
      logger.warn(logRecord('subscriber dropped', { taskId: 't-1', subscriberId: 's-1' }));
    });
    expect(stderr).toMatch(
      /^\[Nest\] \d+ {2}- .+ {3}ERROR \[SseResume\] task failed taskId=t-1 error=boom\nError: boom\n {4}at run/,
    );
    expect(stdout).toMatch(
      /^\[Nest\] \d+ {2}- .+ {4}WARN \[SseResume\] subscriber dropped taskId=t-1 subscriberId=s-1\n$/,
    );
  });

  it('a pino logger behind nestjs-pino: the fields at the top level of the line', () => {
    const lines: string[] = [];
    restore = useLogger(pinoStyleLogger(lines));
    logger.error(logRecord('task failed', { taskId: 't-1', error: 'boom' }), STACK);
    logger.warn(logRecord('subscriber dropped', { taskId: 't-1', subscriberId: 's-1' }));
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { level: 50, context: 'SseResume', message: 'task failed', taskId: 't-1', error: 'boom', msg: STACK },
      { level: 40, context: 'SseResume', message: 'subscriber dropped', taskId: 't-1', subscriberId: 's-1' },
    ]);
  });
});

describe('log lines of the library', () => {
  let restore: (() => void) | undefined;
  afterEach(() => restore?.());

  /** The captured records whose message (the record's own) contains `text`. */
  function find(
    logger: CapturingLogger,
    text: string,
  ): Record<string, unknown> & { message: Record<string, unknown> } {
    const record = logger
      .records()
      .find((r) => String((r.message as { message?: unknown }).message).includes(text));
    if (!record) throw new Error(`no line with "${text}" in:\n${logger.lines.join('\n')}`);
    return record as Record<string, unknown> & { message: Record<string, unknown> };
  }

  it('a failed task: taskId and the error as fields, the stack, never the resume key', async () => {
    for (const json of [true, false]) {
      const captured = new CapturingLogger({ json });
      restore = useLogger(captured);
      const { service } = createService();
      try {
        const { taskId, resumeKey } = await service.start(async () => {
          throw new Error('boom');
        });
        await waitForMs(() => captured.lines.some((line) => line.includes('task failed')), 'the line');
        if (json) {
          expect(find(captured, 'task failed')).toMatchObject({
            level: 'error',
            context: 'SseResume',
            message: { message: 'task failed', taskId, error: 'boom' },
            stack: expect.stringMatching(/^Error: boom\n/),
          });
        } else {
          const at = captured.lines.findIndex((line) => line.includes('task failed'));
          expect(captured.lines[at]).toMatch(
            new RegExp(`ERROR \\[SseResume\\] task failed taskId=${taskId} error=boom$`),
          );
          expect(captured.lines[at + 1]).toMatch(/^Error: boom\n/);
        }
        const all = captured.lines.join('\n');
        expect(all).not.toContain(resumeKey);
        expect(all).not.toContain(hashResumeKey(resumeKey));
      } finally {
        await shutDown(service);
        restore();
      }
    }
  });

  it('a slow subscriber dropped: taskId, subscriberId and the numbers as fields', async () => {
    const captured = new CapturingLogger({ json: true });
    restore = useLogger(captured);
    const res = new StalledResponse(4096);
    const sink = new ResponseSink(
      res as unknown as ServerResponse,
      { maxPendingBytes: 1024 * 1024, slowConsumerTimeoutMs: 20 },
      new Logger(LOGGER_NAME),
      () => ({ taskId: 't-1', subscriberId: 's-1' }),
    );
    sink.write('x'.repeat(64 * 1024));
    await waitForMs(() => sink.closed, 'the sink to drop the client');
    expect(find(captured, 'has not read')).toMatchObject({
      level: 'warn',
      context: 'SseResume',
      message: { taskId: 't-1', subscriberId: 's-1', pendingBytes: 61440, slowConsumerTimeoutMs: 20 },
    });
  });

  it('the Redis reaper: taskId and the lost owner as fields, no Redis key name', async () => {
    const captured = new CapturingLogger({ json: true });
    restore = useLogger(captured);
    const limits = testStoreLimits();
    const keys = new RedisKeys(uniquePrefix('test-logs'));
    const connections = new RedisConnections({ url: TEST_REDIS_URL }, limits);
    const keyHash = hashResumeKey('the key');
    try {
      await connections.connect(5_000);
      const call = createCall(
        { taskId: 'orphan', keyHash, createdAt: Date.now(), ownerId: 'instance-1' },
        10_000,
        keys,
        limits,
      );
      await connections.eval(SCRIPTS.create, call.keys, call.args);
      // Its lease lapsed long ago:
      await connections.client.hset(keys.taskKey('orphan', 'meta'), 'leaseUntil', 1);
      await connections.client.zadd(keys.key('running'), 1, 'orphan');
      expect(
        await new RedisOrphanReaper(
          connections,
          new RedisKeyspace(keys.prefix),
          limits,
          'PUBLISH',
        ).failOrphans(),
      ).toBe(1);
      expect(find(captured, 'owner instance was lost')).toMatchObject({
        level: 'warn',
        context: 'SseResume',
        message: { taskId: 'orphan', owner: 'instance-1' },
      });
      const all = captured.lines.join('\n');
      expect(all).not.toContain(keyHash);
      expect(all).not.toContain(keys.prefix);
    } finally {
      await deleteKeys(keys.prefix);
      await connections.close();
    }
  });
});
