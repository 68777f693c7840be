import type { MessageEvent } from '@nestjs/common';

/**
 * One stored event of a task. It is its own Nest `MessageEvent` (explicit `id`, `type`,
 * and `data` already serialized to JSON), so every subscriber shares the same object and
 * nothing is serialized per subscriber. `frame` is the complete SSE frame, byte for byte
 * what Nest would write for it.
 */
export class TaskEvent implements MessageEvent {
  constructor(
    /** Per-task sequence number: 1, 2, 3 ... with no gaps. */
    readonly seq: number,
    /** SSE event name. */
    readonly type: string,
    /** JSON text of the payload (one line: JSON.stringify never emits raw newlines). */
    readonly data: string,
    /** Its {@link size}, when the caller knows it already; counted when first asked otherwise. */
    private cachedSize?: number,
  ) {}

  /** The sequence number as the string Nest writes in `id:` (made when asked: history keeps no copy). */
  get id(): string {
    return String(this.seq);
  }

  /** Built on demand, not kept: history would otherwise hold every event twice. */
  get frame(): string {
    return `event: ${this.type}\nid: ${this.seq}\ndata: ${this.data}\n\n`;
  }

  /** What the event counts for against `historyBytes`: UTF-8 bytes of its name and data. */
  get size(): number {
    return (this.cachedSize ??= Buffer.byteLength(this.data) + this.type.length);
  }
}
