import type { ResolvedSseResumeOptions, SseResumeOptions } from '../interfaces/sse-resume-options.interface';
import type { TaskStore } from '../interfaces/task-store.interface';
import { resolveOptions, storeLimits } from '../sse-resume.options';
import { SseTaskService } from '../sse-task.service';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';

/** A service wired by hand, as the module does it (test helper, not part of the public API). */
export interface ServiceFixture<S extends TaskStore = InMemoryTaskStore> {
  service: SseTaskService;
  store: S;
  options: ResolvedSseResumeOptions;
}

export function createService(options?: SseResumeOptions): ServiceFixture;
export function createService<S extends TaskStore>(
  options: SseResumeOptions,
  makeStore: (memory: InMemoryTaskStore) => S,
): ServiceFixture<S>;
export function createService(
  options: SseResumeOptions = {},
  makeStore?: (memory: InMemoryTaskStore) => TaskStore,
): ServiceFixture<TaskStore> {
  const resolved = resolveOptions(options);
  const memory = new InMemoryTaskStore(storeLimits(resolved));
  const store = makeStore ? makeStore(memory) : memory;
  return { service: new SseTaskService(store, resolved), store, options: resolved };
}

/** Stops a service as Nest would on `app.close()`. */
export async function shutDown(service: SseTaskService): Promise<void> {
  await service.beforeApplicationShutdown();
  await service.onApplicationShutdown();
}
