/** Name of every log line of the library (Nest's `[SseResume]` context). */
export const LOGGER_NAME = 'SseResume';

const PREFIX = 'SseResumeModule';

/** The app did not import `ScheduleModule.forRoot()`: the eviction job has nowhere to run. */
export const MISSING_SCHEDULE_MODULE =
  `${PREFIX} needs @nestjs/schedule: add ScheduleModule.forRoot() to the imports of your root ` +
  'module (once). The library registers its TTL eviction job there and never imports it itself.';

/** `store: 'redis'` (or `redis: {...}`) without the optional peer installed. */
export const MISSING_IOREDIS =
  `${PREFIX}: store 'redis' needs the ioredis package, which is not installed: run npm install ioredis ` +
  '(or pass another TaskStore as store)';

/** A store that says it is shared but cannot report ends from other instances. */
export const SHARED_STORE_WITHOUT_ON_TASK_ENDED =
  `${PREFIX}: a shared TaskStore (shared: true) must implement onTaskEnded, or a task ` +
  'cancelled on one instance would go on running on the instance that runs it';

/** Option checks at boot: each message names the option. */
export const optionMessages = {
  notAnInteger: (name: string, min: number, max: number, got: unknown): string =>
    `${PREFIX}: option ${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(got) ?? typeof got}`,
  authorizeNotAFunction: `${PREFIX}: option authorize must be a function`,
  unknownStore: `${PREFIX}: option store must be 'memory', 'redis', a TaskStore or a factory`,
  unstoredBelowEvent: (unstored: number, event: number): string =>
    `${PREFIX}: maxUnstoredBytes (${unstored}) cannot be less than maxEventBytes (${event})`,
  eventAboveHistory: (event: number, history: number): string =>
    `${PREFIX}: maxEventBytes (${event}) cannot exceed historyBytes (${history})`,
};
