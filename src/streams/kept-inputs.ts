import { constants } from 'node:fs';
import { access, chmod, copyFile, link, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** How a file input becomes a kept one: taken over (a temporary upload), linked, or copied. */
export type KeepMode = 'move' | 'link' | 'copy';

/**
 * The uploaded (file) inputs of jobs, kept so the jobs can be retried: one file per job,
 * `<dir>/<jobId>`, mode 0600, in a directory of mode 0700. Nothing here throws for a file that
 * cannot be kept: the job then simply cannot be retried from it.
 */
export class KeptInputs {
  readonly dir: string;
  #ready: Promise<void> | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Where job `id`'s input is (or would be) kept. */
  pathOf(id: string): string {
    // Ids are jobstream's own (`job_…`), never a path; refuse anything else outright.
    if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`not a job id: ${JSON.stringify(id)}`);
    return join(this.dir, id);
  }

  /**
   * Keeps `source` as job `id`'s input. `move` renames it (a temporary upload the caller gives
   * up; copied and removed across file systems), `link` hard-links it (a file already kept,
   * never written again), `copy` copies it (a caller's file, which it may change later).
   * Only a regular file is kept. Resolves with the kept path, or `undefined` when it could not be
   * kept (the source is left as it was, unless moved).
   */
  async keep(id: string, source: string, mode: KeepMode): Promise<string | undefined> {
    const target = this.pathOf(id);
    try {
      if (!(await stat(source)).isFile()) return undefined;
      this.#ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(
        () => undefined,
        (error: unknown) => {
          this.#ready = undefined;
          throw error;
        },
      );
      await this.#ready;
      if (mode === 'move') await rename(source, target).catch((error: NodeJS.ErrnoException) => (error.code === 'EXDEV' ? copyThenRemove(source, target) : Promise.reject(error)));
      else if (mode === 'link') await link(source, target).catch(() => copyFile(source, target, constants.COPYFILE_FICLONE));
      else await copyFile(source, target, constants.COPYFILE_FICLONE);
      await chmod(target, 0o600);
      return target;
    } catch {
      await rm(target, { force: true }).catch(() => undefined);
      return undefined;
    }
  }

  /** Whether job `id`'s input is kept here. */
  has(id: string): Promise<boolean> {
    return access(this.pathOf(id)).then(
      () => true,
      () => false,
    );
  }

  /** Drops job `id`'s kept input, if there is one. */
  async remove(id: string): Promise<void> {
    await rm(this.pathOf(id), { force: true });
  }
}

async function copyThenRemove(source: string, target: string): Promise<void> {
  await copyFile(source, target, constants.COPYFILE_FICLONE);
  await rm(source, { force: true });
}
