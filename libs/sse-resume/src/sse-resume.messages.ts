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

/** `durable` or `queueStreams` without the optional peer installed. */
export const MISSING_BULLMQ =
  `${PREFIX}: durable tasks and queue streams need the bullmq package, which is not installed: ` +
  'run npm install bullmq';

/** `durable` with a store that only this process sees. */
export const DURABLE_NEEDS_SHARED_STORE =
  `${PREFIX}: option durable needs a shared store (store 'redis'): a durable task's next attempt ` +
  'runs on another instance, which must see its events and checkpoint';

/** `durable` with a shared store that cannot claim, checkpoint or release tasks. */
export const DURABLE_STORE_WITHOUT_CLAIMS =
  `${PREFIX}: option durable needs a store that implements claim, checkpoint and releaseClaim ` +
  '(the Redis store does)';

/** Two providers registered the same `@TaskHandler` name. */
export const duplicateTaskHandler = (name: string, first: string, second: string): string =>
  `${PREFIX}: two task handlers are named "${name}" (${first} and ${second}); names must be unique`;

/** Checks of the `durable` option at boot: each message names the option. */
export const durableOptionMessages = {
  notAnObject: `${PREFIX}: option durable must be an object`,
  notAString: (name: string, got: unknown): string =>
    `${PREFIX}: option durable.${name} must be a non-empty string (a queue name without ':'), got ${JSON.stringify(got) ?? typeof got}`,
  notABoolean: (name: string, got: unknown): string =>
    `${PREFIX}: option durable.${name} must be true or false, got ${JSON.stringify(got) ?? typeof got}`,
  notAnInteger: (name: string, min: number, max: number, got: unknown): string =>
    `${PREFIX}: option durable.${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(got) ?? typeof got}`,
  badBackoff: (name: string, got: unknown): string =>
    `${PREFIX}: option ${name} must be a delay in ms or { type: 'fixed' | 'exponential', delay }, got ${JSON.stringify(got) ?? typeof got}`,
  badLimiter: (got: unknown): string =>
    `${PREFIX}: option durable.limiter must be { max, duration } with positive integers, got ${JSON.stringify(got) ?? typeof got}`,
  badConnection: `${PREFIX}: option durable.connection must be an object with url, nodes or options`,
};
