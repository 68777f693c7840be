/**
 * Backpressure for one task's emits. An emit resolves once the store has the event and,
 * once the task emitted more than `bytesPerTurn` in the current turn of the event loop,
 * only after that turn ends: an awaited loop cannot hold the event loop or outrun the
 * store. Emits that are not awaited cannot be paced; `admit` refuses them past
 * `maxUnstoredBytes` that the store has not confirmed.
 */
export class EmitPacer {
  /** Characters emitted whose append the store has not confirmed yet. */
  private unstored = 0;
  /** Characters emitted in this turn of the event loop. */
  private turnBytes = 0;
  /** Resolves when this turn ends (a `setImmediate` armed at the turn's first emit). */
  private turnEnd: Promise<void> | undefined;

  /** Bytes of the current burst of synchronously stored emits (see {@link stored}). */
  private burst = 0;
  private burstQueued = false;

  constructor(
    private readonly bytesPerTurn: number,
    private readonly maxUnstoredBytes: number,
  ) {}

  /** Counts an emit of `size` characters; false if it would pass `maxUnstoredBytes`. */
  admit(size: number): boolean {
    if (this.unstored + size > this.maxUnstoredBytes) return false;
    this.unstored += size;
    return true;
  }

  /**
   * The result of an emit the store took at once (a synchronous append), delayed past the
   * turn if over budget, like {@link pace}. Its bytes count as unstored until the emitting
   * code yields (a microtask, as a store's promise would confirm them): a synchronous burst
   * of emits is bounded by `maxUnstoredBytes` with every store, at one microtask per burst.
   */
  stored<T>(value: T, size: number): Promise<T> {
    if (!this.burstQueued) {
      this.burstQueued = true;
      queueMicrotask(this.endBurst);
    }
    this.burst += size;
    const turnEnd = this.countTurnBytes(size);
    return turnEnd ? turnEnd.then(() => value) : Promise.resolve(value);
  }

  /** Gives back the bytes of an emit the store refused at once. */
  refused(size: number): void {
    this.unstored -= size;
  }

  /** The emit's result, released from `unstored` once stored, delayed past the turn if over budget. */
  pace<T>(stored: Promise<T>, size: number): Promise<T> {
    const release = () => {
      this.unstored -= size;
    };
    const confirmed = stored.then(
      (value) => {
        release();
        return value;
      },
      (err: unknown) => {
        release();
        throw err;
      },
    );
    const turnEnd = this.countTurnBytes(size);
    return turnEnd ? confirmed.then((value) => turnEnd.then(() => value)) : confirmed;
  }

  private readonly endBurst = (): void => {
    this.unstored -= this.burst;
    this.burst = 0;
    this.burstQueued = false;
  };

  private countTurnBytes(size: number): Promise<void> | undefined {
    if (this.turnEnd === undefined) {
      this.turnEnd = new Promise<void>((resolve) =>
        setImmediate(() => {
          this.turnBytes = 0;
          this.turnEnd = undefined;
          resolve();
        }),
      );
    }
    this.turnBytes += size;
    return this.turnBytes > this.bytesPerTurn ? this.turnEnd : undefined;
  }
}
