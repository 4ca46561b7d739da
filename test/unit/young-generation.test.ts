import { describe, expect, it } from 'vitest';
import { GATEWAY_YOUNG_GENERATION_MB, youngGenerationFlag } from '../../src/cli/young-generation.js';

describe('the gateway young-generation setting', () => {
  it('is set on V8 12 and later (Node 22, 24), whose V8 has it, and not on V8 11 (Node 20), which has none', () => {
    const flag = `--scavenger-max-new-space-capacity-mb=${GATEWAY_YOUNG_GENERATION_MB}`;
    expect(youngGenerationFlag('13.6.233.17-node.63')).toBe(flag);
    expect(youngGenerationFlag('12.4.254.21-node.57')).toBe(flag);
    expect(youngGenerationFlag('11.3.244.8-node.38')).toBeUndefined();
  });
});
