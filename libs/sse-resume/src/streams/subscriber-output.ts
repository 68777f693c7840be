import type { TaskEvent } from '../task-event';
import type { EventBatch } from './sse-frames';

/** What an output needs from the subscription it writes for. */
export interface OutputOwner {
  /** The subscription ended: a replay in progress stops. */
  readonly closed: boolean;
  /** Ends the subscription without a terminal event (a sink refused a write). */
  end(): void;
}

/**
 * How a subscription's output goes out: as SSE text to a `FrameSink` ({@link SinkOutput}) or as
 * Nest `MessageEvent`s ({@link MessageOutput}). The subscription decides what to send and when;
 * an output only sends it, and remembers whether anything went out since the last heartbeat tick.
 */
export interface SubscriberOutput {
  /** History is read as ready-made SSE text for this output (see readHistoryChunk). */
  readonly writesText: boolean;
  /**
   * Called right after the open message (resume point and `retry:`) went to Nest: a sink
   * writes the open frame in its place (the interceptor kept the message back).
   */
  opened(resumePoint: number, retryMs: number): void;
  /** The events of a live batch from index `from` on (earlier ones were already sent). */
  batch(batch: EventBatch, from: number): void;
  /** A replay step the store gave as SSE text (only when {@link writesText}). */
  replayText(text: string): void;
  /** A replay step's events, in pieces that wait for the client where it can tell. */
  replayEvents(events: readonly TaskEvent[]): Promise<void>;
  /** In-band notice that events `from`..`to` are no longer in history. */
  gap(from: number, to: number): void;
  /** Sends a heartbeat unless something went out since the previous call. */
  heartbeat(): void;
  /** Waits until the client can take more (sink), or at least one turn of the event loop. */
  pause(): Promise<void>;
  /** Completes the Observable (Nest then ends the response) once everything written went out. */
  complete(): void;
}
