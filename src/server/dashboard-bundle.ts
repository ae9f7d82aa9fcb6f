import { fileURLToPath } from 'node:url';
import type * as Esbuild from 'esbuild';

/** The dashboard folder: `src/dashboard` in a checkout, `dist/dashboard` in the built package. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));

/** Thrown when esbuild is not installed (it is a dev dependency): serve a prebuilt bundle instead. */
export class BundlerMissingError extends Error {
  constructor(cause: unknown) {
    super('esbuild is not installed, so the dashboard cannot be bundled here', { cause });
    this.name = 'BundlerMissingError';
  }
}

/**
 * Bundles the dashboard (`src/dashboard/app.ts` and everything it imports, the remote client
 * included) into one minified ES module for browsers, in memory.
 *
 * esbuild is imported on demand: it is a dev dependency, and an installed package serves the
 * bundle `npm run build` made instead.
 *
 * @throws BundlerMissingError when esbuild cannot be imported; esbuild's own error for a bad source.
 * @example
 * const js = await bundleDashboard(); // about 250 kB, 75 kB gzipped
 */
export async function bundleDashboard(entry = `${DASHBOARD_DIR}app.ts`): Promise<string> {
  let esbuild: typeof Esbuild;
  try {
    esbuild = await import('esbuild');
  } catch (error) {
    throw new BundlerMissingError(error);
  }
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    write: false,
    logLevel: 'silent',
    plugins: [englishOnlyZod],
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('esbuild produced no output');
  return output.text;
}

/**
 * Zod's `z` namespace re-exports every error-message locale (about half of the bundle); the
 * dashboard only ever shows English messages, which zod configures itself.
 */
const englishOnlyZod: Esbuild.Plugin = {
  name: 'english-only-zod',
  setup(build) {
    build.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({ contents: "export { default as en } from './en.js';", loader: 'js' }));
  },
};
