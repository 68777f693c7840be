import { generateResumeKey, generateTaskId, hashResumeKey } from '../access/resume-key';
import type { StartedTask } from '../interfaces/task-context.interface';
import type { NewTaskRecord, TaskStore } from '../interfaces/task-store.interface';

/**
 * Adds a new running task to the store: a fresh id and resume key (the store keeps only the
 * key's hash). `record` says who owns it (`ownerId`) or that a queue will (`durable`).
 */
export async function createTask(
  store: TaskStore,
  record: Omit<NewTaskRecord, 'taskId' | 'keyHash' | 'createdAt'>,
): Promise<StartedTask> {
  const taskId = generateTaskId();
  const resumeKey = generateResumeKey();
  await store.create({ taskId, keyHash: hashResumeKey(resumeKey), createdAt: Date.now(), ...record });
  return { taskId, resumeKey };
}
