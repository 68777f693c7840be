import type { StoreHealth } from '../interfaces/store-health.interface';
import type { TaskStore } from '../interfaces/task-store.interface';

/** Default longest wait for the store in a health check: a hung store is `down` after it. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 1_000;

/** A store's own `health()` is told the timeout; this much later it is cut off anyway. */
const STORE_GRACE_MS = 100;

/** Looked up by stores without `health()`: no task has this id (task ids are UUIDs). */
const PROBE_TASK_ID = 'sse-resume-health-probe';

/**
 * Asks the store how it is, within `timeoutMs`: its `health()` if it has one, else a timed
 * `lookup()` of a task that does not exist. Never rejects: an error or no answer in time is
 * `down` with the reason. The result names the store's `kind` (`custom` when it has none).
 */
export async function probeStore(store: TaskStore, timeoutMs: number): Promise<StoreHealth> {
  const kind = store.kind ?? 'custom';
  try {
    const health = store.health
      ? await withTimeout(store.health({ timeoutMs }), timeoutMs + STORE_GRACE_MS)
      : await lookupProbe(store, timeoutMs);
    return { ...health, store: kind };
  } catch (err) {
    return { status: 'down', message: err instanceof Error ? err.message : String(err), store: kind };
  }
}

async function lookupProbe(store: TaskStore, timeoutMs: number): Promise<StoreHealth> {
  const started = performance.now();
  await withTimeout(store.lookup(PROBE_TASK_ID), timeoutMs);
  return { status: 'up', latencyMs: Math.round((performance.now() - started) * 100) / 100 };
}

/** `promise`, or a rejection `no answer within <ms> ms` once `ms` have passed. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the store gave no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
