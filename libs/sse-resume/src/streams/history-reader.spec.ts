import { resolveOptions, storeLimits } from '../sse-resume.options';
import type { FrameSlice, TaskStore } from '../interfaces/task-store.interface';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { readHistoryChunk } from './history-reader';

describe('readHistoryChunk', () => {
  let store: InMemoryTaskStore;
  beforeEach(async () => {
    store = new InMemoryTaskStore(storeLimits(resolveOptions({ historyLimit: 3 })));
    await store.create({ taskId: 't', keyHash: 'h', createdAt: 1 });
    for (let i = 1; i <= 5; i++) await store.append('t', 'progress', String(i));
  });

  it('reads events when the store builds no frames, and says whether history goes on', async () => {
    const first = await readHistoryChunk(store, 't', 0, { asFrames: true, limit: 2, maxChars: 1_000 });
    expect(first).toMatchObject({
      firstEventId: 3,
      lastEventId: 5,
      count: 2,
      lastId: 4,
      ended: false,
      more: true,
    });
    expect(first.events!.map((e) => e.seq)).toEqual([3, 4]);
    const rest = await readHistoryChunk(store, 't', 4, { asFrames: false, limit: 2, maxChars: 1_000 });
    expect(rest).toMatchObject({ count: 1, lastId: 5, more: false });
  });

  it('marks the chunk that holds the end event', async () => {
    await store.finish('t', { status: 'completed', data: '{}' });
    const chunk = await readHistoryChunk(store, 't', 5, { asFrames: false, limit: 10, maxChars: 1_000 });
    expect(chunk).toMatchObject({ count: 1, lastId: 6, ended: true });
  });

  it('asks for ready-made frames when the caller writes text and the store can build them', async () => {
    const slice: FrameSlice = {
      text: 'x',
      count: 1,
      lastId: 4,
      ended: false,
      firstEventId: 3,
      lastEventId: 5,
    };
    const framing = Object.assign(Object.create(store) as TaskStore, {
      readFrames: jest.fn(async () => slice),
    });
    const chunk = await readHistoryChunk(framing, 't', 3, { asFrames: true, limit: 7, maxChars: 99 });
    expect(framing.readFrames).toHaveBeenCalledWith('t', 3, 7, 99);
    expect(chunk).toEqual({ ...slice, more: true });
  });
});
