/**
 * How often the gateway process collects its young generation for off-heap
 * garbage. A gateway forwards payloads as off-heap buffers (socket reads,
 * WebSocket messages, frames) that die within a task; V8 frees them at a
 * young-generation collection, and starts one for their sake only once the
 * young buffers reach twice its largest young-generation size: 32 MiB on
 * Node 20 and 22, 128 MiB on Node 24, whose V8 raised that size
 * (--scavenger-max-new-space-capacity-mb) from 8 to 32 MiB. Under the memory
 * attack of test/integration/memory-attack.test.ts that let Node 24 carry up
 * to 128 MiB of dead buffers, and its resident memory grew by it.
 *
 * V8 reads this setting each time it decides (not only at start-up), so the
 * gateway command sets it for its own process at start, the same in
 * production as under test. Node 20's V8 has no such setting (its trigger is
 * fixed at 32 MiB). A program embedding createGateway keeps its own settings.
 */
import { setFlagsFromString } from 'node:v8';

/**
 * The setting's value, in MiB: V8 sizes a semi-space at twice it in a Node
 * build (no pointer compression) and triggers at two semi-spaces, so 4
 * means a collection after 16 MiB of young off-heap buffers (Node 24's
 * default: 128 MiB; Node 20 and 22: 32 MiB).
 */
export const GATEWAY_YOUNG_GENERATION_MB = 4;

/**
 * The V8 flag that sets the young generation's off-heap trigger for a V8 of
 * version `v8Version` (`process.versions.v8`), or undefined when that V8 has
 * none (before 12, Node 20).
 */
export function youngGenerationFlag(v8Version: string): string | undefined {
  const major = Number.parseInt(v8Version, 10);
  return major >= 12 ? `--scavenger-max-new-space-capacity-mb=${GATEWAY_YOUNG_GENERATION_MB}` : undefined;
}

/** Applies the gateway's young-generation setting to this process, where its V8 has one; returns the flag applied. */
export function applyGatewayYoungGeneration(v8Version = process.versions.v8): string | undefined {
  const flag = youngGenerationFlag(v8Version);
  if (flag) setFlagsFromString(flag);
  return flag;
}
