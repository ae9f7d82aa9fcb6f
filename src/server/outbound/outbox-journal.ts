import { mkdir, open, rename, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { JobstreamError, StoreCorruptError } from '../../streams/errors.js';
import { crc32Hex } from '../../streams/journal-file.js';
import { readLines } from '../../streams/line-reader.js';
import { syncDirectory } from '../../streams/snapshot-file.js';

/** The outbox file inside its directory. */
export const OUTBOX_FILE = 'outbox.jsonl';

/** What {@link OutboxJournal} writes with: `fs.promises.open` and its handle (tests make it fail). */
export type OpenOutboxFile = (path: string, flags: 'a' | 'w') => Promise<Pick<FileHandle, 'write' | 'datasync' | 'truncate' | 'close'>>;

/**
 * The outbound-webhook outbox on disk: one file of lines `<crc32 hex> <json>\n`, mode 0600, in a
 * directory of mode 0700 (it holds the endpoints' signing secrets). Every {@link append} is one
 * write and one fsync; a failed one is cut back, so the caller may write the same records again.
 * {@link rewrite} replaces the whole file (temporary file, fsync, rename, fsync of the
 * directory): compaction.
 *
 * A crash in mid-append leaves a torn last line, which {@link open} drops; a damaged line that
 * is not the last cannot come from a crash and is a {@link StoreCorruptError} naming the file.
 */
export class OutboxJournal {
  readonly dir: string;
  readonly path: string;
  readonly #open: OpenOutboxFile;
  #file: Awaited<ReturnType<OpenOutboxFile>> | undefined;
  #size: number;
  #torn = false;

  private constructor(dir: string, size: number, openFile: OpenOutboxFile) {
    this.dir = dir;
    this.path = join(dir, OUTBOX_FILE);
    this.#size = size;
    this.#open = openFile;
  }

  /**
   * Opens (creating) the outbox in `dir` and hands every record, in order, to `onRecord`.
   *
   * @example const journal = await OutboxJournal.open('./data/webhooks', (record) => apply(record));
   */
  static async open(dir: string, onRecord: (record: unknown) => void, openFile: OpenOutboxFile = (path, flags) => open(path, flags, 0o600)): Promise<OutboxJournal> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, OUTBOX_FILE);
    let valid = 0;
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (exists) {
      let broken: { line: number; why: string } | undefined;
      for await (const line of readLines(path)) {
        if (broken !== undefined) throw new StoreCorruptError(path, `line ${broken.line} ${broken.why}, and lines follow it`);
        const text = line.bytes.toString('utf8');
        const record = line.complete ? parseLine(text) : undefined;
        if (record === undefined) {
          // Only the last line may be torn (a crash in mid-append): it was never acknowledged.
          broken = { line: line.number, why: line.complete ? 'does not match its checksum' : 'is incomplete' };
          continue;
        }
        onRecord(record.value);
        valid = line.end;
      }
    }
    const journal = new OutboxJournal(dir, valid, openFile);
    journal.#torn = exists;
    return journal;
  }

  /** Bytes in the file. */
  get size(): number {
    return this.#size;
  }

  /** Appends records (JSON values) with one write and one fsync; on failure nothing stays behind. */
  async append(records: readonly unknown[]): Promise<void> {
    if (records.length === 0) return;
    const buffer = Buffer.from(records.map(encodeLine).join(''));
    const file = (this.#file ??= await this.#open(this.path, 'a'));
    if (this.#torn) {
      // A torn tail from a crash or an earlier failed append: cut back to the last whole line.
      await file.truncate(this.#size);
      this.#torn = false;
    }
    try {
      await writeAll(file, buffer);
      await file.datasync();
    } catch (error) {
      await file.truncate(this.#size).catch(() => {
        this.#torn = true;
      });
      throw error;
    }
    this.#size += buffer.length;
  }

  /** Replaces the file with `records` (compaction), durably. */
  async rewrite(records: readonly unknown[]): Promise<void> {
    const text = records.map(encodeLine).join('');
    const temp = `${this.path}.tmp`;
    const handle = await this.#open(temp, 'w');
    try {
      await writeAll(handle, Buffer.from(text));
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await this.#file?.close();
    this.#file = undefined;
    await rename(temp, this.path);
    await syncDirectory(this.dir);
    this.#size = Buffer.byteLength(text);
    this.#torn = false;
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await this.#file?.close();
    this.#file = undefined;
  }
}

/** A nearly full disk takes part of a write: continue until all of it is written or one fails. */
async function writeAll(file: Pick<FileHandle, 'write'>, buffer: Buffer): Promise<void> {
  for (let offset = 0; offset < buffer.length; ) {
    const { bytesWritten } = await file.write(buffer, offset, buffer.length - offset);
    if (!(bytesWritten > 0)) throw new JobstreamError('STORE_WRITE_STALLED', 'an outbox write made no progress');
    offset += bytesWritten;
  }
}

function encodeLine(record: unknown): string {
  const json = JSON.stringify(record);
  return `${crc32Hex(Buffer.from(json))} ${json}\n`;
}

function parseLine(text: string): { value: unknown } | undefined {
  const space = text.indexOf(' ');
  if (space !== 8) return undefined;
  const json = text.slice(9);
  if (crc32Hex(Buffer.from(json)) !== text.slice(0, 8)) return undefined;
  try {
    return { value: JSON.parse(json) as unknown };
  } catch {
    return undefined;
  }
}
