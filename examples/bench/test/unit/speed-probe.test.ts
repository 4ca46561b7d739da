import { describe, expect, it } from 'vitest';
import { runBench } from '../../src/runner.js';

describe('speed probe', () => {
  it('is read before each scenario and once at the end of a run', async () => {
    const lines: string[] = [];
    const r = await runBench({ only: [], quick: true, log: (line) => lines.push(line) });
    expect(r.speed).toEqual([{ before: 'end', ms: expect.any(Number) }]);
    expect(r.speed![0]!.ms).toBeGreaterThan(0);
    expect(lines).toEqual([expect.stringMatching(/^ {3}speed probe: \d+\.\d ms$/)]);
  });
});
