// The package version, reported by /health and --version.
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
