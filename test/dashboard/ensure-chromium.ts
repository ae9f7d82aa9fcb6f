import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** The browser to drive, or why there is none. */
export type ChromiumCheck = { executablePath: string } | { unavailable: string };

/**
 * Makes sure Debian's chromium is installed for the dashboard's browser test: when it is
 * missing and this process is root on a system with apt-get (a CI container), it runs
 * `apt-get update && apt-get install -y chromium`. Otherwise it says why there is no browser;
 * the test then fails under `CI=true` and is skipped with that reason elsewhere.
 *
 * @example
 * const chromium = ensureChromium();
 * if ('unavailable' in chromium) console.warn(chromium.unavailable);
 */
export function ensureChromium(): ChromiumCheck {
  if (existsSync(CHROMIUM)) return { executablePath: CHROMIUM };
  if (process.platform !== 'linux') return { unavailable: `${CHROMIUM} is missing and this is not Linux (${process.platform}): install Debian's chromium to run the dashboard test` };
  if (process.getuid?.() !== 0) return { unavailable: `${CHROMIUM} is missing and installing it needs root: run \`apt-get install -y chromium\`` };
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) return { unavailable: `${CHROMIUM} is missing and there is no apt-get to install it with` };
  const install = spawnSync('sh', ['-c', 'apt-get update && apt-get install -y chromium'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  if (existsSync(CHROMIUM)) return { executablePath: CHROMIUM };
  const why = install.error?.message ?? install.stderr.trim().split('\n').slice(-3).join(' ');
  return { unavailable: `${CHROMIUM} is missing and \`apt-get install -y chromium\` did not install it: ${why || `exit ${install.status}`}` };
}
