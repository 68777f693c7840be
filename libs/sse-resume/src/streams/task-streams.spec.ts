import { Logger } from '@nestjs/common';
import { TaskAccessChecker } from '../access/task-access-checker';
import { hashResumeKey } from '../access/resume-key';
import { resolveOptions, storeLimits } from '../sse-resume.options';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { TaskHub } from './task-hub';
import { collect, waitFor } from '../testing/async';
import { TaskStreams } from './task-streams';

describe('TaskStreams', () => {
  const options = resolveOptions({ heartbeatMs: 60_000 });
  const logger = new Logger('test');
  let store: InMemoryTaskStore;
  let hub: TaskHub;
  let streams: TaskStreams;

  beforeEach(async () => {
    store = new InMemoryTaskStore(storeLimits(options));
    hub = new TaskHub(
      store,
      { heartbeatMs: options.heartbeatMs, maxSubscribersPerTask: 10, maxStreams: 10_000 },
      logger,
    );
    streams = new TaskStreams(store, options, hub, new TaskAccessChecker(store, options, hub), logger);
    await store.create({ taskId: 't1', keyHash: hashResumeKey('key'), createdAt: 1 });
    await store.append('t1', 'progress', '"a"');
  });

  afterEach(() => streams.stop());

  it('streams the resume point, history, live events and end, then completes', async () => {
    const collected = collect(streams.stream('t1', { resumeKey: 'key' }));
    await waitFor(() => streams.count === 1, 'the stream to join');
    await store.append('t1', 'progress', '"b"');
    await store.finish('t1', { status: 'completed', data: '{"status":"completed"}' });
    await collected.done;
    expect(collected.values.map((m) => m.id)).toEqual(['0', '1', '2', '3']);
    expect(collected.values.map((m) => m.type)).toEqual([undefined, 'progress', 'progress', 'end']);
    expect(streams.count).toBe(0);
  });

  it('errors before the first message when access is refused', async () => {
    const collected = collect(streams.stream('t1', { resumeKey: 'wrong' }));
    await collected.done;
    expect(collected.values).toEqual([]);
    expect(collected.error).toMatchObject({ code: 'RESUME_KEY_INVALID' });
  });

  it('ends open streams on endAll, and after endForGood also those that join later', async () => {
    const open = collect(streams.stream('t1', { resumeKey: 'key' }));
    await waitFor(() => streams.count === 1, 'the stream to join');
    streams.endAll();
    await open.done;
    expect(open.values.map((m) => m.type)).not.toContain('end');
    streams.endForGood();
    const late = collect(streams.stream('t1', { resumeKey: 'key' }));
    await late.done;
    expect(late.error).toBeUndefined();
    await waitFor(() => streams.count === 0, 'the late stream to leave');
  });
});
