import { MISSING_BULLMQ } from '../sse-resume.messages';
import { loadBullmq } from './bullmq-loader';

describe('loadBullmq', () => {
  it('loads the installed bullmq', async () => {
    const bullmq = await loadBullmq();
    expect(typeof bullmq.Worker).toBe('function');
  });

  it.each(['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND'])(
    'turns a missing bullmq (%s) into MISSING_BULLMQ',
    async (code) => {
      const missing = Object.assign(new Error("Cannot find module 'bullmq'"), { code });
      await expect(loadBullmq(() => Promise.reject(missing))).rejects.toThrow(MISSING_BULLMQ);
    },
  );

  it('passes other errors through', async () => {
    const broken = Object.assign(new Error("Cannot find module 'ioredis'"), { code: 'MODULE_NOT_FOUND' });
    await expect(loadBullmq(() => Promise.reject(broken))).rejects.toBe(broken);
  });
});
