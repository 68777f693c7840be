import { createHash, createHmac } from 'node:crypto';

/** Digits of a BullMQ stream id's millisecond part and sequence part in a position. */
const MS_DIGITS = 15;
const SEQ_DIGITS = 10;
/** Digits of a log line's index in a position. */
const LOG_DIGITS = 12;
const STREAM_ID = /^(\d{1,15})-(\d{1,10})$/;

/**
 * The task id of a queue's job: a UUID-formatted SHA-256 of (prefix, queue, job id), the
 * same on every instance, so that the app's task routes serve the job's stream.
 */
export function taskIdOf(prefix: string, queue: string, jobId: string): string {
  const digest = createHash('sha256').update(`${prefix}\0${queue}\0${jobId}`, 'utf8').digest();
  // Version 8 (custom) and the RFC 9562 variant: a valid UUID that says it is not random.
  digest.writeUInt8((digest.readUInt8(6) & 0x0f) | 0x80, 6);
  digest.writeUInt8((digest.readUInt8(8) & 0x3f) | 0x80, 8);
  const hex = digest.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The resume key of a mirrored job's task: HMAC-SHA256(secret, task id), base64url. */
export function resumeKeyOf(secret: string, taskId: string): string {
  return createHmac('sha256', secret).update(taskId, 'utf8').digest('base64url');
}

/**
 * A Redis stream id (`<ms>-<seq>`) as a fixed-width position for `appendOnce`, so that
 * string order is stream order. Throws on anything else.
 */
export function streamPosition(streamId: string): string {
  const [, ms, seq] = STREAM_ID.exec(streamId) ?? [];
  if (ms === undefined || seq === undefined)
    throw new RangeError(`not a stream id: ${JSON.stringify(streamId)}`);
  return `${ms.padStart(MS_DIGITS, '0')}-${seq.padStart(SEQ_DIGITS, '0')}`;
}

/** The position of a job's log line (0-based index in its logs list) for `appendOnce`. */
export function logPosition(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`not a log index: ${index}`);
  return String(index).padStart(LOG_DIGITS, '0');
}

/** Whether stream id `a` comes after `b` (numeric order of both parts). */
export function streamIdAfter(a: string, b: string): boolean {
  return streamPosition(a) > streamPosition(b);
}
