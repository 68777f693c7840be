import { Observable, type Subscriber } from 'rxjs';

type Notification<T> = { kind: 'N'; value: T } | { kind: 'E'; error: unknown } | { kind: 'C' };

/**
 * Hands on a stream that someone is subscribed to already: what it emits before the new
 * subscriber comes is kept, in order, and given to it first. Subscribe {@link observable}
 * once; unsubscribing it calls `stop` (which ends the subscription to the source).
 */
export class StreamRelay<T> {
  private queue: Notification<T>[] | undefined = [];
  private target: Subscriber<T> | undefined;

  constructor(private readonly stop: () => void) {}

  next(value: T): void {
    this.push({ kind: 'N', value });
  }

  error(error: unknown): void {
    this.push({ kind: 'E', error });
  }

  complete(): void {
    this.push({ kind: 'C' });
  }

  readonly observable = new Observable<T>((subscriber) => {
    const queued = this.queue ?? [];
    this.queue = undefined;
    this.target = subscriber;
    for (const notification of queued) this.deliver(notification);
    return () => {
      this.target = undefined;
      this.stop();
    };
  });

  private push(notification: Notification<T>): void {
    if (this.queue) this.queue.push(notification);
    else this.deliver(notification);
  }

  private deliver(notification: Notification<T>): void {
    const target = this.target;
    if (!target) return;
    if (notification.kind === 'N') target.next(notification.value);
    else if (notification.kind === 'E') target.error(notification.error);
    else target.complete();
  }
}
