import packageJson from '../../../../package.json' with { type: 'json' };

/** The product's version, as package.json gives it. */
export function productVersion(): string {
  return packageJson.version;
}
