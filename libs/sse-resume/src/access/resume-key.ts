import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/** 256 random bits, base64url: 43 characters, unguessable. */
export function generateResumeKey(): string {
  return randomBytes(32).toString('base64url');
}

/** Random UUID v4: task ids are public, but must not be enumerable either. */
export function generateTaskId(): string {
  return randomUUID();
}

/** What stores keep instead of the key: SHA-256, hex. */
export function hashResumeKey(resumeKey: string): string {
  return createHash('sha256').update(resumeKey, 'utf8').digest('hex');
}

/**
 * Whether `resumeKey` is the key whose hash is `expectedHash`. Both sides are 32-byte
 * digests whatever the input, so `timingSafeEqual` runs in constant time and the
 * comparison reveals nothing about how much of a guess was right.
 */
export function resumeKeyMatches(resumeKey: string | undefined, expectedHash: string): boolean {
  if (typeof resumeKey !== 'string' || resumeKey.length === 0 || resumeKey.length > 1024) return false;
  const actual = createHash('sha256').update(resumeKey, 'utf8').digest();
  const expected = Buffer.from(expectedHash, 'hex');
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}
