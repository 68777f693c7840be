import type { LoggerService } from '@nestjs/common';
import { errorText, logRecord } from '../log-record';
import type { JobMirror } from './job-mirror';
import type { QueueRedis } from './queue-connection';
import { toEntries, type QueueJobReader } from './queue-job-reader';

/** Timing of the loop; defaults suit production. */
export interface QueueEventLoopTiming {
  /** Entries per XREAD. Default 500. */
  batch?: number;
  /** Longest XREAD block, ms (the loop notices `stop()` at once anyway). Default 5 000. */
  blockMs?: number;
  /** How often the logs of mirrored jobs are checked, ms. Default 1 000. */
  logPollMs?: number;
  /** Wait after a failed round before the next, ms. Default 1 000. */
  retryMs?: number;
}

/** How long a stored cursor outlives the last bridge that moved it. */
const CURSOR_TTL_SECONDS = 7 * 24 * 3600;

/**
 * Reads one queue's events stream with XREAD BLOCK from a cursor stored in Redis (each
 * bridge instance reads every entry; restarts go on where the last instance was) and
 * hands the entries to the queue's {@link JobMirror}. The cursor moves only after a batch
 * is mirrored, so a failure reads the batch again (mirroring is idempotent).
 */
export class QueueEventLoop {
  private stopped = false;
  private running: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private cursor = '0-0';
  private readonly batch: number;
  private readonly blockMs: number;
  private readonly logPollMs: number;
  private readonly retryMs: number;

  constructor(
    /** Used only by this loop (XREAD BLOCK holds it). */
    private readonly blocking: QueueRedis,
    private readonly commands: QueueRedis,
    private readonly reader: QueueJobReader,
    private readonly mirror: JobMirror,
    private readonly cursorKey: string,
    private readonly logger: LoggerService,
    timing: QueueEventLoopTiming = {},
  ) {
    this.batch = timing.batch ?? 500;
    this.blockMs = timing.blockMs ?? 5_000;
    this.logPollMs = timing.logPollMs ?? 1_000;
    this.retryMs = timing.retryMs ?? 1_000;
  }

  /** The id of the last entry mirrored (for tests and health). */
  get position(): string {
    return this.cursor;
  }

  /**
   * Reads the stored cursor (none: the stream's newest entry, since tasks made later seed
   * their job's state themselves), resyncs if entries after it were trimmed, and starts.
   */
  async start(): Promise<void> {
    const stored = await this.commands.get(this.cursorKey);
    this.cursor = stored ?? (await this.reader.lastStreamId());
    await this.checkTrimmed();
    this.running = this.loop();
    this.pollTimer = setInterval(() => void this.mirror.pollLogs(), this.logPollMs);
    this.pollTimer.unref();
  }

  /** Stops reading (cuts the blocked XREAD) and waits for the round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    this.blocking.disconnect();
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.round();
      } catch (err) {
        if (this.stopped) return;
        this.logger.warn(
          logRecord('queue stream: mirroring failed; retrying', {
            stream: this.reader.eventsKey,
            cursor: this.cursor,
            error: errorText(err),
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, this.retryMs).unref());
      }
    }
  }

  private async round(): Promise<void> {
    const reply = await this.blocking.xread(
      'COUNT',
      this.batch,
      'BLOCK',
      this.blockMs,
      'STREAMS',
      this.reader.eventsKey,
      this.cursor,
    );
    if (this.stopped) return;
    const raw = reply?.[0]?.[1] ?? [];
    if (raw.length === 0) return;
    // A full batch: this instance is behind, and may be further behind than MAXLEN kept.
    if (raw.length >= this.batch) await this.checkTrimmed();
    const entries = toEntries(raw);
    await this.mirror.apply(entries);
    this.cursor = entries[entries.length - 1]?.id ?? this.cursor;
    await this.commands.set(this.cursorKey, this.cursor, 'EX', CURSOR_TTL_SECONDS);
  }

  /**
   * Entries after the cursor were trimmed (MAXLEN) before this instance read them: every
   * job mirrored here, and every job found before the loop catches up, is written as of
   * now (its current progress, logs and end) instead of the lost events; so is every
   * older task this instance finds later (after a restart it knows none yet).
   */
  private async checkTrimmed(): Promise<void> {
    if (this.cursor === '0-0') return;
    if (!(await this.reader.trimmedAfter(this.cursor))) return;
    this.logger.warn(
      logRecord(
        'queue stream: events were trimmed before they were mirrored; resyncing jobs from their state',
        {
          stream: this.reader.eventsKey,
          cursor: this.cursor,
        },
      ),
    );
    this.mirror.resyncCreatedBefore = Date.now();
    await this.mirror.resyncAll();
  }
}
