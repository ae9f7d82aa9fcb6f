import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism, totalmem } from 'node:os';

const PACKAGES = ['ws', 'rxjs', 'lowdb', 'zod', 'hono', '@hono/node-server', 'undici', 'tsx', 'typescript'];

/** What the figures were measured on: cores, CPU model, memory, Node and package versions. */
export interface Machine {
  nproc: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  jobstream: string;
  /** SHA-256 (first 12 hex digits) of every file under src/, to tell which code was measured. */
  srcDigest: string;
  packages: Record<string, string>;
}

export function describeMachine(): Machine {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux
  }
  const version = (path: string) => {
    try {
      return (JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      return 'missing';
    }
  };
  return {
    nproc: availableParallelism(),
    cpu,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    jobstream: version('../../package.json'),
    srcDigest: digestOf(fileURLToPath(new URL('../../src', import.meta.url))),
    packages: Object.fromEntries(PACKAGES.map((name) => [name, version(`../../node_modules/${name}/package.json`)])),
  };
}

export function machineLine(m: Machine): string {
  const packages = Object.entries(m.packages)
    .map(([name, v]) => `${name} ${v}`)
    .join(', ');
  return `${m.nproc} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, jobstream ${m.jobstream} (src ${m.srcDigest}); ${packages}`;
}

function digestOf(dir: string): string {
  const hash = createHash('sha256');
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) hash.update(path.slice(dir.length)).update(readFileSync(path));
    }
  };
  try {
    walk(dir);
  } catch {
    return 'unknown';
  }
  return hash.digest('hex').slice(0, 12);
}
