/**
 * Loads the optional peer `bullmq` (only when `queueStreams` is configured). Stand-in with
 * the behaviour of `durable/bullmq-loader.ts` until that file is on this branch: fold the two.
 */

/** `queueStreams` (or `durable`) configured without the optional peer installed. */
export const MISSING_BULLMQ =
  'SseResumeModule: durable tasks and queue streams need the bullmq package, which is not installed: ' +
  'run npm install bullmq';

export type BullmqModule = typeof import('bullmq');

/** `import('bullmq')`, with a missing package turned into an Error with {@link MISSING_BULLMQ}. */
export async function loadBullmq(
  load: () => Promise<BullmqModule> = () => import('bullmq'),
): Promise<BullmqModule> {
  try {
    return await load();
  } catch (err) {
    // ERR_MODULE_NOT_FOUND from the published ES modules, MODULE_NOT_FOUND when compiled to CommonJS.
    const { code } = err as NodeJS.ErrnoException;
    const missing =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /bullmq/.test(String(err));
    if (missing) throw new Error(MISSING_BULLMQ);
    throw err;
  }
}
