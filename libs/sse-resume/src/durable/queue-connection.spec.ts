import { createQueueConnection, urlOptions } from './queue-connection';

describe('createQueueConnection', () => {
  it('reads a URL into ioredis options', () => {
    expect(urlOptions('rediss://u:p%40ss@h:7000/2')).toEqual({
      host: 'h',
      port: 7000,
      username: 'u',
      password: 'p@ss',
      db: 2,
      tls: {},
    });
    expect(urlOptions('redis://127.0.0.1')).toEqual({ host: '127.0.0.1', port: 6379 });
  });

  it('takes durable.connection first, then the Redis store settings, then the local default', async () => {
    const own = await createQueueConnection(
      { url: 'redis://a:1', options: { connectTimeout: 5 } },
      { url: 'redis://b:2' },
    );
    expect(own.connection).toEqual({ host: 'a', port: 1, connectTimeout: 5 });
    const store = await createQueueConnection(undefined, { url: 'redis://b:2/1' });
    expect(store.connection).toEqual({ host: 'b', port: 2, db: 1 });
    const fallback = await createQueueConnection(undefined, undefined);
    expect(fallback.connection).toEqual({ host: '127.0.0.1', port: 6379 });
    await fallback.close();
  });

  it('duplicates the store client (with maxRetriesPerRequest null for blocking reads) and closes the copy', async () => {
    const copies: object[] = [];
    let quits = 0;
    const client = {
      duplicate: (override: object) => {
        copies.push(override);
        return { quit: async () => quits++, disconnect: () => undefined };
      },
    };
    const made = await createQueueConnection(undefined, { client });
    expect(copies).toEqual([{ maxRetriesPerRequest: null }]);
    await made.close();
    expect(quits).toBe(1);
  });
});
