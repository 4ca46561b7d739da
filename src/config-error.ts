/** A configuration value that fails validation: names the key and what is allowed. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`config '${key}': ${message}`);
  }
}
