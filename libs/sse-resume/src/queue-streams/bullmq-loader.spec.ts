import { loadBullmq, MISSING_BULLMQ, type BullmqModule } from './bullmq-loader';

function moduleError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('loadBullmq', () => {
  it('loads the installed bullmq', async () => {
    const bullmq = await loadBullmq();
    expect(typeof bullmq.QueueKeys).toBe('function');
  });

  it.each(['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND'])(
    'turns %s of bullmq into a clear message',
    async (code) => {
      const load = (): Promise<BullmqModule> =>
        Promise.reject(moduleError(code, "Cannot find module 'bullmq'"));
      await expect(loadBullmq(load)).rejects.toThrow(MISSING_BULLMQ);
    },
  );

  it('passes other errors through', async () => {
    const other = moduleError('MODULE_NOT_FOUND', "Cannot find module 'msgpackr'");
    await expect(loadBullmq(() => Promise.reject(other))).rejects.toBe(other);
  });
});
