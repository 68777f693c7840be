import { TaskEvent } from '../../task-event';

/** Slots of a new ring; it doubles as it fills. */
const INITIAL_CAPACITY = 16;
/** What an empty slot holds (a string: the arrays hold nothing else). */
const EMPTY = '';

function slots(n: number): string[] {
  return new Array<string>(n).fill(EMPTY);
}

/**
 * One task's history in the in-memory store: the events oldest first, kept by column in a
 * ring (name, data and size per slot, no object per event). What a long history costs the
 * garbage collector is then the data strings alone, and once the history is at its limit
 * an append allocates nothing here: it reuses the slot of the event it drops.
 * Positions count from the oldest event held (0); the store maps them to ids.
 */
export class EventRing {
  private types = slots(INITIAL_CAPACITY);
  private data = slots(INITIAL_CAPACITY);
  private sizes = new Float64Array(INITIAL_CAPACITY);
  /** Slot of the oldest event. */
  private head = 0;
  private count = 0;

  /** Events held. */
  get length(): number {
    return this.count;
  }

  /** Adds the newest event. */
  push(type: string, data: string, size: number): void {
    if (this.count === this.sizes.length) this.grow();
    const slot = (this.head + this.count) & (this.sizes.length - 1);
    this.types[slot] = type;
    this.data[slot] = data;
    this.sizes[slot] = size;
    this.count++;
  }

  /** Drops the oldest event; returns its size. */
  dropOldest(): number {
    const slot = this.head;
    const size = this.sizes[slot]!;
    this.types[slot] = EMPTY;
    this.data[slot] = EMPTY;
    this.head = (slot + 1) & (this.sizes.length - 1);
    this.count--;
    return size;
  }

  /** Keeps only the newest event, in a ring of the initial size (the rest of its memory goes). */
  keepNewest(): void {
    const last = this.slotOf(this.count - 1);
    const type = this.types[last]!;
    const data = this.data[last]!;
    const size = this.sizes[last]!;
    this.clear();
    this.push(type, data, size);
  }

  /** Drops every event and the memory of the slots. */
  clear(): void {
    this.types = slots(INITIAL_CAPACITY);
    this.data = slots(INITIAL_CAPACITY);
    this.sizes = new Float64Array(INITIAL_CAPACITY);
    this.head = 0;
    this.count = 0;
  }

  /** Size of the event at `position`. */
  sizeAt(position: number): number {
    return this.sizes[this.slotOf(position)]!;
  }

  /** The event at `position`, made for the caller with id `seq`. */
  eventAt(position: number, seq: number): TaskEvent {
    const slot = this.slotOf(position);
    return new TaskEvent(seq, this.types[slot]!, this.data[slot]!, this.sizes[slot]);
  }

  private slotOf(position: number): number {
    return (this.head + position) & (this.sizes.length - 1);
  }

  /** Doubles the slots, the oldest event moving to slot 0. */
  private grow(): void {
    const capacity = this.sizes.length * 2;
    const types = slots(capacity);
    const data = slots(capacity);
    const sizes = new Float64Array(capacity);
    for (let i = 0; i < this.count; i++) {
      const slot = this.slotOf(i);
      types[i] = this.types[slot]!;
      data[i] = this.data[slot]!;
      sizes[i] = this.sizes[slot]!;
    }
    this.types = types;
    this.data = data;
    this.sizes = sizes;
    this.head = 0;
  }
}
