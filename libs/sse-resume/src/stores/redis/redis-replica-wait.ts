import { Logger } from '@nestjs/common';
import { logRecord } from '../../log-record';
import { LOGGER_NAME } from '../../sse-resume.messages';
import type { RedisConnections } from './redis-connections';
import { isNoScript, type Script } from './redis-scripts';

/** The `waitForReplicas` setting: how many replicas must have a write before it is handed out. */
export interface ReplicaWait {
  readonly replicas: number;
  readonly timeoutMs: number;
  /** Writes that fewer replicas acknowledged in time (for health and tests). */
  shortfalls: number;
}

const logger = new Logger(LOGGER_NAME);
let lastShortfallLog = 0;

/**
 * A script call followed by `WAIT replicas timeoutMs` in one round trip on the same node
 * (a pipeline goes to the node of its first key, WAIT has none). Resolves to the script's
 * reply once the replicas acknowledged it or the timeout passed: Redis applied the write
 * either way, so a shortfall is logged (at most every 5 s) and counted, not thrown.
 * By the script's SHA-1; `alone` (no other write of the task in flight): on NOSCRIPT, sent
 * again by its text at once (otherwise the writer resends in order: see IN_ORDER).
 */
export async function durableWrite(
  connections: RedisConnections,
  script: Script,
  keys: string[],
  args: (string | number)[],
  wait: ReplicaWait,
  alone: boolean,
): Promise<unknown> {
  const send = (byText: boolean) =>
    connections.pipelined<[unknown, number]>((pipeline) =>
      (byText
        ? pipeline.eval(script.lua, keys.length, ...keys, ...args)
        : pipeline.evalsha(script.sha, keys.length, ...keys, ...args)
      ).call('WAIT', String(wait.replicas), String(wait.timeoutMs)),
    );
  let reply: [unknown, number];
  try {
    reply = await send(false);
  } catch (err) {
    if (!alone || !isNoScript(err)) throw err;
    reply = await send(true);
  }
  const [result, acknowledged] = reply;
  if (Number(acknowledged) < wait.replicas) {
    wait.shortfalls++;
    const now = Date.now();
    if (now - lastShortfallLog >= 5_000) {
      lastShortfallLog = now;
      logger.warn(
        logRecord('a write reached fewer Redis replicas than waitForReplicas within waitTimeoutMs', {
          replicas: Number(acknowledged),
          waitForReplicas: wait.replicas,
          waitTimeoutMs: wait.timeoutMs,
        }),
      );
    }
  }
  return result;
}
