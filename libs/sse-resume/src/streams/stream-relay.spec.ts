import { StreamRelay } from './stream-relay';

describe('StreamRelay', () => {
  it('gives what came before the subscriber first, in order, then passes the rest on', () => {
    const relay = new StreamRelay<number>(() => undefined);
    relay.next(1);
    relay.next(2);
    const seen: unknown[] = [];
    relay.observable.subscribe({ next: (v) => seen.push(v), complete: () => seen.push('done') });
    relay.next(3);
    relay.complete();
    expect(seen).toEqual([1, 2, 3, 'done']);
  });

  it('passes an error on, kept or live', () => {
    const kept = new StreamRelay<number>(() => undefined);
    kept.error(new Error('early'));
    const errors: unknown[] = [];
    kept.observable.subscribe({ error: (e: Error) => errors.push(e.message) });
    const live = new StreamRelay<number>(() => undefined);
    live.observable.subscribe({ error: (e: Error) => errors.push(e.message) });
    live.error(new Error('late'));
    expect(errors).toEqual(['early', 'late']);
  });

  it('stops the source when its subscriber unsubscribes, and delivers nothing after', () => {
    const stop = jest.fn();
    const relay = new StreamRelay<number>(stop);
    const seen: number[] = [];
    const subscription = relay.observable.subscribe((v) => seen.push(v));
    subscription.unsubscribe();
    relay.next(1);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(seen).toEqual([]);
  });
});
