import { isOpenMessage, SUBSCRIPTION_HANDLE } from './open-message';
import type { TaskSubscription } from './task-subscription';

describe('isOpenMessage', () => {
  it("tells a library stream's open message (it carries the subscription) from any other value", () => {
    const open = { data: '', [SUBSCRIPTION_HANDLE]: {} as TaskSubscription };
    expect(isOpenMessage(open)).toBe(true);
    for (const other of [{ data: 'x', id: '1' }, null, undefined, 'text', 3, { subscription: {} }])
      expect(isOpenMessage(other)).toBe(false);
  });
});
