// TEMPORARY shim until the harness lands.
export interface RedisClusterHandle {
  nodes: { host: string; port: number }[];
  seeds: string;
  stop(): Promise<void>;
}
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const seeds = process.env.TEST_REDIS_CLUSTER_NODES ?? '127.0.0.1:7101';
  return {
    seeds,
    nodes: seeds.split(',').map((s) => ({ host: s.split(':')[0]!, port: Number(s.split(':')[1]) })),
    stop: async () => undefined,
  };
}
