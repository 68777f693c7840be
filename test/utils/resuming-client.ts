import { openStream } from './api';
import type { RawEnd } from '@app/sse-resume/testing/raw-http';
import { parseFrames, type SseFrame } from '@app/sse-resume/testing/sse';

export interface AttemptRecord {
  /** Last-Event-ID sent, `undefined` on the first attempt. */
  lastEventId: string | undefined;
  /** Status of the response, 0 when the connection broke before a head arrived. */
  status: number;
  endedBy: RawEnd | 'no-head';
  /** Complete event frames received in this attempt. */
  events: number;
}

export interface ResumeRun {
  /** Every complete event frame (`event:` line) received, in order, over all attempts. */
  events: SseFrame[];
  attempts: AttemptRecord[];
}

/**
 * What a browser's EventSource does, with a raw socket: read the stream; whenever the
 * connection ends before the `end` event, reconnect at once with `Last-Event-ID` = the id
 * of the last complete frame. Incomplete frames at a cut are discarded, as the spec says.
 */
export async function followWithResume(
  baseUrl: string,
  path: string,
  { maxAttempts = 1_000 }: { maxAttempts?: number } = {},
): Promise<ResumeRun> {
  const events: SseFrame[] = [];
  const attempts: AttemptRecord[] = [];
  let lastEventId: string | undefined;
  while (attempts.length < maxAttempts) {
    const sentId = lastEventId;
    const connection = openStream(baseUrl, path, sentId === undefined ? {} : { 'Last-Event-ID': sentId });
    const response = await connection.done.catch(() => undefined);
    if (!response) {
      attempts.push({ lastEventId: sentId, status: 0, endedBy: 'no-head', events: 0 });
      continue;
    }
    if (response.status === 204) {
      attempts.push({ lastEventId: sentId, status: 204, endedBy: response.endedBy, events: 0 });
      return { events, attempts };
    }
    if (response.status !== 200) {
      throw new Error(
        `attempt ${attempts.length + 1} (Last-Event-ID ${sentId}) answered ${response.status}: ${response.text}`,
      );
    }
    let received = 0;
    let ended = false;
    for (const frame of parseFrames(response.text).frames) {
      if (frame.id !== undefined) lastEventId = frame.id;
      if (frame.event === undefined) continue;
      events.push(frame);
      received++;
      if (frame.event === 'end') ended = true;
    }
    attempts.push({ lastEventId: sentId, status: 200, endedBy: response.endedBy, events: received });
    if (ended) return { events, attempts };
  }
  throw new Error(`no end event after ${maxAttempts} attempts; last id ${lastEventId}`);
}
