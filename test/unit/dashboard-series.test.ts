/** The dashboard's time series stay bounded in points and in lines, and keep columns aligned. */
import { describe, expect, it } from 'vitest';
import { TimeSeries } from '../../src/admin/dashboard/series.js';

describe('TimeSeries', () => {
  it('keeps at most `capacity` points, dropping the oldest', () => {
    const s = new TimeSeries(3, 5);
    for (let t = 1; t <= 10; t++) s.push(t, new Map([['a', t * 10]]));
    expect(s.length).toBe(3);
    expect(s.data()).toEqual([[8, 9, 10], [80, 90, 100]]);
  });

  it('back-fills a late key with gaps and drops a key absent for the whole window', () => {
    const s = new TimeSeries(3, 5);
    s.push(1, new Map([['a', 1]]));
    s.push(2, new Map([['a', 2], ['b', 20]]));
    expect(s.keys()).toEqual(['a', 'b']);
    expect(s.data()).toEqual([[1, 2], [1, 2], [null, 20]]);
    s.push(3, new Map([['b', 30]]));
    s.push(4, new Map([['b', 40]]));
    s.push(5, new Map([['b', 50]]));
    expect(s.keys()).toEqual(['b']);
    expect(s.data()).toEqual([[3, 4, 5], [30, 40, 50]]);
  });

  it('ignores keys beyond `maxKeys`', () => {
    const s = new TimeSeries(10, 2);
    s.push(1, new Map([['a', 1], ['b', 2], ['c', 3]]));
    expect(s.keys()).toEqual(['a', 'b']);
    expect(s.last('c')).toBeUndefined();
  });
});
