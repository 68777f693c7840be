import {
  InvalidResumePointError,
  ResumeKeyInvalidError,
  ResumePointAtEndError,
  StoreUnavailableError,
  TooManyStreamsError,
  TaskAccessDeniedError,
  TaskExpiredError,
  TaskNotFoundError,
  TooManySubscribersError,
} from '../errors';
import { hashResumeKey } from './resume-key';
import { resolveOptions, storeLimits } from '../sse-resume.options';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { END_EVENT } from '../sse-resume.constants';
import { takeAuthorizedStream } from '../streams/stream-request';
import { TaskAccessChecker, type SubscriberDirectory } from './task-access-checker';

describe('TaskAccessChecker', () => {
  const options = resolveOptions({ maxSubscribersPerTask: 2, ttl: 60_000 });
  let store: InMemoryTaskStore;
  let subscribers: { subscriberId: string }[];
  let checker: TaskAccessChecker;
  const directory: SubscriberDirectory = {
    subscriberCount: () => subscribers.length,
    get subscriptionCount() {
      return subscribers.length + otherStreams;
    },
    subscribersOf: () => subscribers,
  };
  /** Streams of other tasks on this instance. */
  let otherStreams = 0;

  beforeEach(async () => {
    store = new InMemoryTaskStore(storeLimits(options));
    subscribers = [];
    checker = new TaskAccessChecker(store, options, directory);
    await store.create({ taskId: 't1', keyHash: hashResumeKey('key'), createdAt: 1 });
    await store.append('t1', 'progress', '1');
    await store.append('t1', 'progress', '2');
  });

  it('finds a task by id and key; a wrong key is 403, an unknown id 404', async () => {
    await expect(checker.requireTask('t1', { resumeKey: 'key' })).resolves.toMatchObject({ taskId: 't1' });
    await expect(checker.requireTask('t1', { resumeKey: 'nope' })).rejects.toBeInstanceOf(
      ResumeKeyInvalidError,
    );
    await expect(checker.requireTask('t1', { resumeKey: undefined })).rejects.toBeInstanceOf(
      ResumeKeyInvalidError,
    );
    await expect(checker.requireTask('t2')).rejects.toBeInstanceOf(TaskNotFoundError);
  });

  it('answers an over-long id with 404 without asking the store', async () => {
    const lookup = jest.spyOn(store, 'lookup');
    await expect(checker.requireTask('x'.repeat(129))).rejects.toBeInstanceOf(TaskNotFoundError);
    expect(lookup).not.toHaveBeenCalled();
  });

  it('checks the key before saying a task expired (410 only to its owner)', async () => {
    await store.finish('t1', { status: 'completed', data: '{}' });
    await store.evictExpired(Date.now() + 120_000);
    jest
      .spyOn(store, 'lookup')
      .mockResolvedValue({ state: 'expired', taskId: 't1', keyHash: hashResumeKey('key') });
    await expect(checker.requireTask('t1', { resumeKey: 'nope' })).rejects.toBeInstanceOf(
      ResumeKeyInvalidError,
    );
    await expect(checker.requireTask('t1', { resumeKey: 'key' })).rejects.toBeInstanceOf(TaskExpiredError);
  });

  it('refuses a stream with 503 TOO_MANY_STREAMS when the instance serves maxStreams (before the head)', async () => {
    const limited = new TaskAccessChecker(store, { ...options, maxStreams: 3 }, directory);
    otherStreams = 2;
    await expect(limited.authorizeStream('t1', { resumeKey: 'key' })).resolves.toMatchObject({
      resumePoint: 0,
    });
    otherStreams = 3;
    const error = await limited.authorizeStream('t1', { resumeKey: 'key' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TooManyStreamsError);
    expect(error).toMatchObject({ limit: 3 });
    otherStreams = 0;
  });

  it('a shared store behind a running task’s resume point (a failover lost writes) is 503, retried after 1 s', async () => {
    Object.defineProperty(store, 'shared', { value: true });
    const error = await checker
      .authorizeStream('t1', { resumeKey: 'key', lastEventId: 5 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).toMatchObject({ retryAfterSeconds: 1 });
    expect((error as Error).message).toContain('has events up to 2 only, behind the resume point 5');
    // Once it ended the store is not behind any more: past the end is the usual answer.
    await store.finish('t1', { status: 'completed', data: '{}' });
    await expect(checker.authorizeStream('t1', { resumeKey: 'key', lastEventId: 5 })).rejects.toBeInstanceOf(
      ResumePointAtEndError,
    );
  });

  it('checks the resume point: 400 past the last event, 204 at the end, 429 when full', async () => {
    await expect(checker.authorizeStream('t1', { resumeKey: 'key', lastEventId: 2 })).resolves.toMatchObject({
      resumePoint: 2,
    });
    await expect(checker.authorizeStream('t1', { resumeKey: 'key', lastEventId: 3 })).rejects.toBeInstanceOf(
      InvalidResumePointError,
    );
    await expect(checker.authorizeStream('t1', { resumeKey: 'key', lastEventId: -1 })).rejects.toBeInstanceOf(
      InvalidResumePointError,
    );
    subscribers = [{ subscriberId: 'a' }, { subscriberId: 'b' }];
    await expect(checker.authorizeStream('t1', { resumeKey: 'key' })).rejects.toBeInstanceOf(
      TooManySubscribersError,
    );
    subscribers = [];
    const end = await store.finish('t1', { status: 'completed', data: '{}' });
    expect(end?.type).toBe(END_EVENT);
    await expect(checker.authorizeStream('t1', { resumeKey: 'key', lastEventId: 3 })).rejects.toBeInstanceOf(
      ResumePointAtEndError,
    );
  });

  it("leaves a guard's result on the request for the stream that follows", async () => {
    const request = {};
    const checked = await checker.authorizeStream('t1', { resumeKey: 'key', lastEventId: 1 }, request);
    expect(takeAuthorizedStream(request, 't1', { resumeKey: 'key', lastEventId: 1 })).toBe(checked);
    await checker.authorizeStream('t1', { resumeKey: 'key' });
    // Taken off by overwriting (a `delete` would make the request a dictionary-mode object).
    const left = Object.getOwnPropertySymbols(request).map(
      (symbol) => (request as Record<symbol, unknown>)[symbol],
    );
    expect(left.every((value) => value === undefined)).toBe(true);
  });

  it('runs the authorize hook with the request and the task info', async () => {
    const authorize = jest.fn((request: unknown) => (request as { user: string }).user === 'alice');
    const guarded = new TaskAccessChecker(store, { ...options, authorize }, directory);
    await expect(guarded.authorizeRequest({ user: 'alice' }, 't1', 'key')).resolves.toMatchObject({
      taskId: 't1',
      lastEventId: 2,
    });
    await expect(guarded.authorizeRequest({ user: 'bob' }, 't1', 'key')).rejects.toBeInstanceOf(
      TaskAccessDeniedError,
    );
    expect(authorize).toHaveBeenLastCalledWith({ user: 'bob' }, expect.objectContaining({ taskId: 't1' }));
  });

  it('reports the subscribers of this instance in the task info', async () => {
    subscribers = [{ subscriberId: 's1' }];
    const info = checker.toInfo(await checker.requireTask('t1'));
    expect(info).toMatchObject({ subscribers: 1, subscriberIds: ['s1'], status: 'running', expiresAt: null });
  });

  it('reports the attempt of a durable task (0 while queued), and none for other tasks', async () => {
    expect(checker.toInfo(await checker.requireTask('t1'))).not.toHaveProperty('attempt');
    await store.create({ taskId: 'd1', keyHash: hashResumeKey('k2'), createdAt: 1, durable: true });
    expect(checker.toInfo(await checker.requireTask('d1'))).toMatchObject({ attempt: 0 });
    await store.claim('d1', 'worker');
    expect(checker.toInfo(await checker.requireTask('d1'))).toMatchObject({ attempt: 1 });
  });
});
