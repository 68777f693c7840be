import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { waitForMs } from '../../testing/async';
import { TEST_REDIS_URL, uniquePrefix } from '../../testing/redis';
import { SingleNodePubSub } from './redis-pubsub';

const noError = () => undefined;

describe('SingleNodePubSub', () => {
  const client = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  const admin = new Redis(TEST_REDIS_URL);
  afterAll(() => {
    client.disconnect();
    admin.disconnect();
  });

  it('delivers messages; a dropped connection reports its channels lost and subscribes kept ones again', async () => {
    const prefix = uniquePrefix('pubsub');
    const pubsub = new SingleNodePubSub(
      client,
      { connectionName: `${prefix.replace(/:/g, '-')}sub` },
      noError,
    );
    const messages: string[] = [];
    const lost: string[][] = [];
    let restored = 0;
    pubsub.keep([`${prefix}control`]);
    pubsub.onMessage((channel, message) => messages.push(`${channel}=${message}`));
    pubsub.onLost((channels) => lost.push([...channels]));
    pubsub.onRestored(() => restored++);
    await pubsub.connect();
    await waitForMs(() => pubsub.status === 'ready', 'ready');
    await pubsub.subscribe(`${prefix}live`);
    await admin.publish(`${prefix}live`, 'a');
    await waitForMs(() => messages.length === 1, 'message');
    expect(messages).toEqual([`${prefix}live=a`]);

    // Only this connection (the shared Redis serves other tests too).
    const list = (await admin.client('LIST')) as string;
    const id = /id=(\d+) .* name=(\S*)/.exec(
      list.split('\n').find((line) => line.includes(`name=${prefix.replace(/:/g, '-')}sub`))!,
    )![1]!;
    await admin.client('KILL', 'ID', id);
    await waitForMs(() => lost.length === 1 && restored === 1, 'lost, then restored', 5_000);
    expect(lost[0]).toEqual([`${prefix}live`]);
    // The kept channel is back; the live one is not (its watchers were told to resume).
    await admin.publish(`${prefix}control`, 'c');
    await admin.publish(`${prefix}live`, 'b');
    await waitForMs(() => messages.length === 2, 'control message');
    expect(messages[1]).toBe(`${prefix}control=c`);
    await pubsub.close();
  });
});
