import { describe, expect, it } from 'vitest';
import { PresenceSet } from '../../../../src/engine/memory/index.js';

describe('PresenceSet', () => {
  it('counts users once across their clients and follows a client that changes user', () => {
    const set = new PresenceSet();
    expect(set.add({ client: 'c1', user: 'u1' }, 100, false)).toBe(true);
    expect(set.add({ client: 'c2', user: 'u1' }, 100, false)).toBe(true);
    expect(set.stats()).toEqual({ clients: 2, users: 1 });
    expect(set.add({ client: 'c2', user: 'u2' }, 100, false)).toBe(false);
    expect(set.stats()).toEqual({ clients: 2, users: 2 });
    set.remove('c1');
    expect(set.stats()).toEqual({ clients: 1, users: 1 });
    expect(set.list()).toEqual([{ client: 'c2', user: 'u2' }]);
  });

  it('expires only members past their time, keeping refreshed ones', () => {
    const set = new PresenceSet();
    set.add({ client: 'c1', user: 'u1' }, 100, true);
    set.add({ client: 'c2', user: 'u2' }, 100, false);
    set.add({ client: 'c2', user: 'u2' }, 300, false);
    expect(set.expire(99)).toEqual([]);
    expect(set.expire(100).map((m) => [m.info.client, m.joinLeave])).toEqual([['c1', true]]);
    expect(set.expire(299)).toEqual([]);
    expect(set.expire(300).map((m) => m.info.client)).toEqual(['c2']);
    expect(set.stats()).toEqual({ clients: 0, users: 0 });
  });
});
