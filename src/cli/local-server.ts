import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The file in a data directory that holds the URL of the server using it. */
export const URL_FILE = 'server-url';
/** The file in a data directory that holds the API token the server chose (mode 0600). */
export const TOKEN_FILE = 'token';

/** What a server left in its data directory for the client commands run beside it. */
export interface LocalServer {
  url: string | undefined;
  token: string | undefined;
}

/**
 * Notes in `dataDir` where the server listens and, when the server chose its token itself
 * (generated it, or the demo's saved one), that token in a file only its owner can read; so
 * `jobstream jobs` or `watch` run beside the data directory need no flags. A token given in
 * the environment is the user's to keep: it is not copied to disk, and a token file left by an
 * earlier run is removed.
 */
export async function recordLocalServer(dataDir: string, server: { url: string; token: string | undefined }): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  await writeFile(join(dataDir, URL_FILE), `${server.url}\n`);
  if (server.token === undefined) await rm(join(dataDir, TOKEN_FILE), { force: true });
  else {
    const file = join(dataDir, TOKEN_FILE);
    await writeFile(file, `${server.token}\n`, { mode: 0o600 });
    await chmod(file, 0o600); // the mode above applies only to a new file
  }
}

/** What {@link recordLocalServer} left in `dataDir`; a missing or unreadable file gives `undefined`. */
export async function readLocalServer(dataDir: string): Promise<LocalServer> {
  const read = async (name: string) => {
    try {
      const text = (await readFile(join(dataDir, name), 'utf8')).trim();
      return text === '' ? undefined : text;
    } catch {
      return undefined;
    }
  };
  return { url: await read(URL_FILE), token: await read(TOKEN_FILE) };
}
