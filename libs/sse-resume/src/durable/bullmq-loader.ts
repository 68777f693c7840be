import { MISSING_BULLMQ } from '../sse-resume.messages';

/** BullMQ's module, as `import('bullmq')` gives it. */
export type BullMq = typeof import('bullmq');

/**
 * Loads bullmq, an optional peer, only when durable tasks or queue streams are configured
 * (Node caches the module). A missing package rejects with the `MISSING_BULLMQ` message;
 * other errors pass through. `importer` is for tests.
 */
export async function loadBullmq(importer: () => Promise<BullMq> = () => import('bullmq')): Promise<BullMq> {
  try {
    return await importer();
  } catch (err) {
    // ERR_MODULE_NOT_FOUND from ES modules, MODULE_NOT_FOUND when compiled to CommonJS.
    const { code } = err as NodeJS.ErrnoException;
    const missing =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /bullmq/.test(String(err));
    throw missing ? new Error(MISSING_BULLMQ) : err;
  }
}
