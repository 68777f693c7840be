/**
 * Where a subscription writes SSE frames when it bypasses Nest's per-event pipeline
 * (see `SseResumeInterceptor`). Writes are whole frames, already serialized.
 */
export interface FrameSink {
  /** Writes frames; returns `false` once the connection is gone or was dropped as too slow. */
  write(chunk: string | Buffer): boolean;
  /**
   * Writes frames given also as a ready HTTP/1.1 chunk of them (`chunk`, shared by every
   * subscriber): a sink may send that straight to the socket. Same result as `write(frames)`.
   */
  writeFramed?(frames: Buffer, chunk: Buffer): boolean;
  /** Resolves once the connection can take more data, or is gone. */
  whenWritable(): Promise<void>;
  /** Resolves once everything written so far has been handed to the connection (or it is gone). */
  flushed(): Promise<void>;
  readonly closed: boolean;
  /** Ends the response, once the stream is over, when the sink owns it (else Nest ends it). */
  end?(): void;
}
