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

describe('loadConfig: durable tasks', () => {
  const redis = { REDIS_URL: 'redis://127.0.0.1:6379' };

  it('memory mode: no durable tasks, whatever the knobs say', () => {
    expect(loadConfig({}).durable).toBeUndefined();
    expect(loadConfig({ TASK_WORKERS: '1', DURABLE_LOCK_MS: '2000' }).durable).toBeUndefined();
  });

  it('with Redis (URL or Cluster): a worker in this instance, the library defaults otherwise', () => {
    const expected = {
      workers: true,
      queueName: undefined,
      lockDurationMs: undefined,
      stalledIntervalMs: undefined,
      concurrency: undefined,
      attempts: undefined,
    };
    expect(loadConfig(redis).durable).toEqual(expected);
    expect(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000' }).durable).toEqual(expected);
  });

  it('TASK_WORKERS=0: no worker; the test knobs are passed on', () => {
    expect(
      loadConfig({
        ...redis,
        TASK_WORKERS: '0',
        DURABLE_QUEUE: 'app-test.q_1',
        DURABLE_LOCK_MS: '2000',
        DURABLE_STALLED_INTERVAL_MS: '1000',
        DURABLE_CONCURRENCY: '10',
        DURABLE_ATTEMPTS: '2',
      }).durable,
    ).toEqual({
      workers: false,
      queueName: 'app-test.q_1',
      lockDurationMs: 2000,
      stalledIntervalMs: 1000,
      concurrency: 10,
      attempts: 2,
    });
  });

  it.each([
    ['TASK_WORKERS', '2', 'TASK_WORKERS must be an integer from 0 to 1, got "2"'],
    ['DURABLE_QUEUE', 'a:b', 'DURABLE_QUEUE must be 1 to 100 letters, digits, "_", "." or "-", got "a:b"'],
    ['DURABLE_LOCK_MS', '50', 'DURABLE_LOCK_MS must be an integer from 100 to 3600000, got "50"'],
    [
      'DURABLE_STALLED_INTERVAL_MS',
      'x',
      'DURABLE_STALLED_INTERVAL_MS must be an integer from 100 to 3600000',
    ],
    ['DURABLE_CONCURRENCY', '0', 'DURABLE_CONCURRENCY must be an integer from 1 to 1000, got "0"'],
    ['DURABLE_ATTEMPTS', '101', 'DURABLE_ATTEMPTS must be an integer from 1 to 100, got "101"'],
  ])('%s=%s stops the boot with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ ...redis, [name]: value })).toThrow(message);
  });
});
