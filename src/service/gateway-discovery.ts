/**
 * How a service learns which gateways to connect to when their list is not
 * fixed: a source of the current set of gateway URLs. The NATS KV
 * implementation is in src/fleet/nats-discovery.ts; anything else (DNS,
 * a file) fits the same shape.
 */
export interface GatewayDiscovery {
  /** For logs and errors: where the gateways come from. */
  describe(): string;
  /**
   * Starts watching: `onChange` gets the whole current set of URLs each time
   * it changes (gateways joining, leaving). Returns the function that stops
   * watching.
   */
  watch(onChange: (urls: readonly string[]) => void): () => void;
}
