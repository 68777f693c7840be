import * as crypto from 'node:crypto';

jest.mock('node:crypto', () => {
  const actual: typeof import('node:crypto') = jest.requireActual('node:crypto');
  return { ...actual, timingSafeEqual: jest.fn(actual.timingSafeEqual) };
});
import { generateResumeKey, generateTaskId, hashResumeKey, resumeKeyMatches } from './resume-key';

describe('generateResumeKey', () => {
  it('is 256 random bits in base64url (43 characters, no padding)', () => {
    const key = generateResumeKey();
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(key, 'base64url')).toHaveLength(32);
  });

  it('never repeats and uses the whole alphabet', () => {
    const keys = Array.from({ length: 2_000 }, generateResumeKey);
    expect(new Set(keys).size).toBe(keys.length);
    const characters = new Set(keys.join(''));
    expect(characters.size).toBe(64);
  });
});

describe('generateTaskId', () => {
  it('is a random UUID v4', () => {
    const ids = Array.from({ length: 100 }, generateTaskId);
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('hashResumeKey', () => {
  it('is SHA-256 in hex', () => {
    expect(hashResumeKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashResumeKey('k\u00e9y')).toBe(
      crypto.createHash('sha256').update('k\u00e9y', 'utf8').digest('hex'),
    );
  });
});

describe('resumeKeyMatches', () => {
  const key = generateResumeKey();
  const hash = hashResumeKey(key);

  it('accepts the right key', () => {
    expect(resumeKeyMatches(key, hash)).toBe(true);
  });

  it.each([
    ['a wrong key', () => generateResumeKey()],
    ['the key with one character changed', () => key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')],
    ['a prefix of the key', () => key.slice(0, 20)],
    ['the key with a suffix', () => `${key}x`],
    ['the hash itself', () => hash],
    ['an empty key', () => ''],
    ['a missing key', () => undefined],
  ])('rejects %s', (_name, make) => {
    expect(resumeKeyMatches(make(), hash)).toBe(false);
  });

  it('rejects keys longer than 1024 characters, even with a matching hash', () => {
    const long = 'k'.repeat(1025);
    expect(resumeKeyMatches(long, hashResumeKey(long))).toBe(false);
    const longest = 'k'.repeat(1024);
    expect(resumeKeyMatches(longest, hashResumeKey(longest))).toBe(true);
  });

  it('rejects non-string keys without throwing', () => {
    expect(resumeKeyMatches(123 as unknown as string, hash)).toBe(false);
    expect(resumeKeyMatches(null as unknown as string, hash)).toBe(false);
  });

  it('answers false for a malformed stored hash instead of throwing', () => {
    expect(resumeKeyMatches(key, 'not hex')).toBe(false);
    expect(resumeKeyMatches(key, hash.slice(0, 10))).toBe(false);
    expect(resumeKeyMatches(key, '')).toBe(false);
  });

  it('compares two 32-byte digests in constant time, whatever the length of the guess', () => {
    const compare = jest.mocked(crypto.timingSafeEqual);
    for (const guess of ['x', key.slice(0, 5), `${key}${'z'.repeat(500)}`, key]) {
      compare.mockClear();
      resumeKeyMatches(guess, hash);
      expect(compare).toHaveBeenCalledTimes(1);
      const [a, b] = compare.mock.calls[0]! as [Buffer, Buffer];
      expect(a).toHaveLength(32);
      expect(b).toHaveLength(32);
    }
  });
});
