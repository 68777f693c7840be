import { hashResumeKey } from '../access/resume-key';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { testStoreLimits } from '../testing/limits';
import { createTask } from './create-task';

describe('createTask', () => {
  it('stores a running task under a fresh id with the hash of a fresh key, and what the caller adds', async () => {
    const store = new InMemoryTaskStore(testStoreLimits());
    const first = await createTask(store, { ownerId: 'me', metadata: { userId: 'u1' } });
    const second = await createTask(store, { durable: true });
    expect(first.taskId).not.toBe(second.taskId);
    expect(first.resumeKey).not.toBe(second.resumeKey);
    const lookup = await store.lookup(first.taskId);
    expect(lookup).toMatchObject({
      state: 'found',
      task: { status: 'running', keyHash: hashResumeKey(first.resumeKey), metadata: { userId: 'u1' } },
    });
    expect(await store.lookup(second.taskId)).toMatchObject({ task: { durable: true } });
    await store.close();
  });
});
