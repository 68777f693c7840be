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

  it('REDIS_CLUSTER_NODES: a list of host:port, empty parts ignored; a bad one stops the boot', () => {
    expect(loadConfig({}).redisClusterNodes).toBeUndefined();
    expect(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000, 127.0.0.1:7001,' }).redisClusterNodes).toEqual([
      '127.0.0.1:7000',
      '127.0.0.1:7001',
    ]);
    for (const value of ['127.0.0.1', 'redis://127.0.0.1:7000', 'a:70000']) {
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: value })).toThrow(
        `REDIS_CLUSTER_NODES must be host:port[,host:port...], got "${value}"`,
      );
    }
  });

  it('REDIS_WAIT_REPLICAS: 0 to 16', () => {
    expect(loadConfig({ REDIS_WAIT_REPLICAS: '1' }).redisWaitReplicas).toBe(1);
    expect(() => loadConfig({ REDIS_WAIT_REPLICAS: '-1' })).toThrow('REDIS_WAIT_REPLICAS must be an integer');
  });
});
