import { defaultStorage, memoryStorage, TaskRecord, type ResumeStorage } from './storage.js';

/** A Map-backed storage recording every call. */
function recordingStorage() {
  const items = new Map<string, string>();
  const calls: string[] = [];
  const storage: ResumeStorage = {
    getItem: (key) => (calls.push(`get ${key}`), items.get(key) ?? null),
    setItem: (key, value) => void (calls.push(`set ${key}=${value}`), items.set(key, value)),
    removeItem: (key) => void (calls.push(`remove ${key}`), items.delete(key)),
  };
  return { storage, items, calls };
}

function throwing(what: Partial<Record<keyof ResumeStorage, Error>>): ResumeStorage {
  const memory = memoryStorage();
  return {
    getItem: (key) => {
      if (what.getItem) throw what.getItem;
      return memory.getItem(key);
    },
    setItem: (key, value) => {
      if (what.setItem) throw what.setItem;
      memory.setItem(key, value);
    },
    removeItem: (key) => {
      if (what.removeItem) throw what.removeItem;
      memory.removeItem(key);
    },
  };
}

const quota = Object.assign(new Error('The quota has been exceeded.'), { name: 'QuotaExceededError' });
const security = Object.assign(new Error('The operation is insecure.'), { name: 'SecurityError' });

describe('memoryStorage', () => {
  it('gets what was set, null for the rest, and forgets what was removed', () => {
    const storage = memoryStorage();
    expect(storage.getItem('a')).toBeNull();
    storage.setItem('a', '1');
    storage.setItem('a', '2');
    storage.setItem('b', '');
    expect(storage.getItem('a')).toBe('2');
    expect(storage.getItem('b')).toBe('');
    storage.removeItem('a');
    storage.removeItem('missing');
    expect(storage.getItem('a')).toBeNull();
  });

  it('each call makes a storage of its own', () => {
    const one = memoryStorage();
    one.setItem('a', '1');
    expect(memoryStorage().getItem('a')).toBeNull();
  });
});

describe('defaultStorage', () => {
  const globals = globalThis as Record<string, unknown>;
  afterEach(() => {
    delete globals.sessionStorage;
  });

  it('is memory where there is no sessionStorage', () => {
    expect('sessionStorage' in globalThis).toBe(false);
    const storage = defaultStorage();
    storage.setItem('a', '1');
    expect(storage.getItem('a')).toBe('1');
    expect(defaultStorage().getItem('a')).toBeNull();
  });

  it('is sessionStorage when it works, which it probes without leaving a trace', () => {
    const session = recordingStorage();
    globals.sessionStorage = session.storage;
    expect(defaultStorage()).toBe(session.storage);
    expect(session.calls).toEqual(['set __sse-resume-probe__=1', 'remove __sse-resume-probe__']);
    expect(session.items.size).toBe(0);
  });

  it('is memory when reading sessionStorage throws (sandboxed frame)', () => {
    Object.defineProperty(globalThis, 'sessionStorage', {
      configurable: true,
      get: () => {
        throw security;
      },
    });
    const storage = defaultStorage();
    storage.setItem('a', '1');
    expect(storage.getItem('a')).toBe('1');
  });

  it('is memory when sessionStorage refuses writes (private mode, quota 0)', () => {
    const session = throwing({ setItem: quota });
    globals.sessionStorage = session;
    const storage = defaultStorage();
    expect(storage).not.toBe(session);
    storage.setItem('a', '1');
    expect(storage.getItem('a')).toBe('1');
  });
});

describe('TaskRecord', () => {
  it('keeps the key and the last id under <prefix><taskId>:key and :id', () => {
    const { storage, items } = recordingStorage();
    const record = new TaskRecord(storage, 'p:', 't1');
    expect(record.resumeKey).toBeUndefined();
    expect(record.lastEventId).toBeUndefined();
    record.resumeKey = 'k';
    record.lastEventId = 0;
    expect(Object.fromEntries(items)).toEqual({ 'p:t1:key': 'k', 'p:t1:id': '0' });
    expect(new TaskRecord(storage, 'p:', 't1')).toMatchObject({ resumeKey: 'k', lastEventId: 0 });
    expect(new TaskRecord(storage, 'p:', 't2')).toMatchObject({
      resumeKey: undefined,
      lastEventId: undefined,
    });
    record.lastEventId = undefined;
    expect(items.has('p:t1:id')).toBe(false);
    record.resumeKey = undefined;
    expect(items.size).toBe(0);
  });

  it('forget() removes both entries', () => {
    const { storage, items } = recordingStorage();
    const record = new TaskRecord(storage, 'p:', 't1');
    record.resumeKey = 'k';
    record.lastEventId = 3;
    record.forget();
    expect(items.size).toBe(0);
  });

  it.each(['abc', '-1', '1.5', '9007199254740993', 'NaN', 'Infinity'])('a stored id %p is no id', (text) => {
    const storage = memoryStorage();
    storage.setItem('p:t1:id', text);
    expect(new TaskRecord(storage, 'p:', 't1').lastEventId).toBeUndefined();
  });

  it('a storage that throws on every call: reads give nothing, writes are dropped silently', () => {
    const record = new TaskRecord(
      throwing({ getItem: security, setItem: quota, removeItem: security }),
      'p:',
      't1',
    );
    expect(() => {
      record.resumeKey = 'k';
      record.lastEventId = 1;
      record.forget();
    }).not.toThrow();
    expect(record.resumeKey).toBeUndefined();
    expect(record.lastEventId).toBeUndefined();
  });

  it('a full storage (setItem throws) still reads what it had', () => {
    const memory = memoryStorage();
    memory.setItem('p:t1:key', 'old');
    const record = new TaskRecord(
      {
        getItem: (key) => memory.getItem(key),
        setItem: () => {
          throw quota;
        },
        removeItem: (key) => memory.removeItem(key),
      },
      'p:',
      't1',
    );
    record.resumeKey = 'new';
    expect(record.resumeKey).toBe('old');
  });
});
