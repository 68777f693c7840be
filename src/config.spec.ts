import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('REDIS_LEASE_MS: unset leaves the library default; a value is passed on', () => {
    expect(loadConfig({}).redisLeaseMs).toBeUndefined();
    expect(loadConfig({ REDIS_LEASE_MS: '1500' }).redisLeaseMs).toBe(1500);
  });

  it.each(['50', '3600001', '1.5', 'soon'])(
    'REDIS_LEASE_MS=%s stops the boot with a message naming it',
    (value) => {
      expect(() => loadConfig({ REDIS_LEASE_MS: value })).toThrow(ConfigError);
      expect(() => loadConfig({ REDIS_LEASE_MS: value })).toThrow(
        `REDIS_LEASE_MS must be an integer from 100 to 3600000, got "${value}"`,
      );
    },
  );
});
