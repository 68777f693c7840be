import { EventEmitter } from 'node:events';

/**
 * A response whose socket the test controls: `capacity` bytes are taken at once, the rest
 * waits until `read()` (the client reading) hands it on and emits `drain`, as Node does
 * (test helper, not part of the public API).
 */
export class StalledResponse extends EventEmitter {
  headersSent = true;
  writableEnded = false;
  destroyed = false;
  /** Bytes the client took so far. */
  taken = 0;
  private waiting = 0;
  private needDrain = false;

  constructor(private capacity: number) {
    super();
  }

  get writableLength(): number {
    return this.waiting;
  }

  get writableNeedDrain(): boolean {
    return !this.destroyed && !this.writableEnded && this.needDrain;
  }

  write(chunk: string | Buffer): boolean {
    const size = Buffer.byteLength(chunk);
    const room = Math.max(0, this.capacity - this.taken - this.waiting);
    this.waiting += Math.max(0, size - room);
    this.taken += Math.min(size, room);
    if (this.waiting > 0) this.needDrain = true;
    return this.waiting === 0;
  }

  end(): void {
    this.writableEnded = true;
  }

  /** The client reads `bytes`: waiting output moves on; `drain` once none is left. */
  read(bytes: number): void {
    this.capacity += bytes;
    const moved = Math.min(this.waiting, bytes);
    this.waiting -= moved;
    this.taken += moved;
    if (this.waiting === 0 && this.needDrain) {
      this.needDrain = false;
      if (!this.writableEnded) this.emit('drain');
    }
  }

  cork(): void {}
  uncork(): void {}

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}
