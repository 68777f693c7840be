import { deferred, nextTurn } from '../testing/async';
import { EmitPacer } from './emit-pacer';

describe('EmitPacer', () => {
  it('admits emits up to maxUnstoredBytes and frees them as the store confirms', async () => {
    const pacer = new EmitPacer(1_000, 100);
    const stored = deferred<number>();
    expect(pacer.admit(60)).toBe(true);
    const paced = pacer.pace(stored.promise, 60);
    expect(pacer.admit(50)).toBe(false); // 110 > 100 while the first waits for the store
    stored.resolve(1);
    expect(await paced).toBe(1);
    expect(pacer.admit(100)).toBe(true);
  });

  it('frees the bytes of a failed append too, and passes its error on', async () => {
    const pacer = new EmitPacer(1_000, 100);
    expect(pacer.admit(100)).toBe(true);
    await expect(pacer.pace(Promise.reject(new Error('down')), 100)).rejects.toThrow('down');
    expect(pacer.admit(100)).toBe(true);
  });

  it('counts emits stored at once as unstored until the burst yields (one microtask)', async () => {
    const pacer = new EmitPacer(1_000, 100);
    expect(pacer.admit(60)).toBe(true);
    const first = pacer.stored(1, 60);
    expect(pacer.admit(50)).toBe(false); // same synchronous burst: 110 > 100
    expect(await first).toBe(1);
    expect(pacer.admit(100)).toBe(true); // released once the burst yielded
  });

  it('gives back the bytes of an emit the store refused at once', () => {
    const pacer = new EmitPacer(1_000, 100);
    expect(pacer.admit(100)).toBe(true);
    pacer.refused(100);
    expect(pacer.admit(100)).toBe(true);
  });

  it('delays an emit stored at once past the turn when over bytesPerTurn', async () => {
    const pacer = new EmitPacer(100, 10_000);
    const order: string[] = [];
    pacer.admit(60);
    void pacer.stored('a', 60).then(() => order.push('a'));
    pacer.admit(60);
    void pacer.stored('b', 60).then(() => order.push('b'));
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(order).toEqual(['a']);
    await nextTurn();
    await nextTurn();
    expect(order).toEqual(['a', 'b']);
  });

  it('resolves at once within bytesPerTurn, after the turn past it', async () => {
    const pacer = new EmitPacer(100, 10_000);
    const order: string[] = [];
    pacer.admit(60);
    void pacer.pace(Promise.resolve('a'), 60).then(() => order.push('a'));
    pacer.admit(60);
    void pacer.pace(Promise.resolve('b'), 60).then(() => order.push('b')); // 120 > 100 this turn
    for (let i = 0; i < 10; i++) await Promise.resolve(); // microtasks alone do not release b
    expect(order).toEqual(['a']);
    await nextTurn(); // the check phase of this turn does
    await nextTurn();
    expect(order).toEqual(['a', 'b']);
  });

  it('starts each turn with a fresh budget', async () => {
    const pacer = new EmitPacer(100, 10_000);
    pacer.admit(90);
    await pacer.pace(Promise.resolve(1), 90);
    await nextTurn();
    let resolved = false;
    pacer.admit(90);
    void pacer.pace(Promise.resolve(2), 90).then(() => (resolved = true));
    await Promise.resolve();
    await Promise.resolve();
    expect(resolved).toBe(true);
  });
});
