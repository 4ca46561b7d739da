/**
 * Vitest global setup: builds the browser assets (dist/assets/) once before
 * any test, so the gateways the tests start serve bundles of the sources
 * under test. The admin server only reads these prebuilt files; it never
 * bundles at runtime.
 */
import { buildAssets } from '../../scripts/browser-bundles.js';

export default async function setup(): Promise<void> {
  await buildAssets();
}
