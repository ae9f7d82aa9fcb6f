import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SimulatorStateError, writeFileAtomic } from '../kit/state-file.js';
import type { UploadSlotState } from './musicai-state.js';

/** A temporary upload slot, like the signed storage object behind `GET /upload`. */
export interface UploadSlot {
  readonly id: string;
  /** Signature required by the upload URL. */
  readonly writeSignature: string;
  /** Signature required by the download URL. */
  readonly readSignature: string;
  /** The bytes, once a PUT arrived. */
  bytes?: Buffer;
  contentType?: string;
}

/** What {@link UploadSlots.inspect} finds behind an input URL. */
export type SlotInspection =
  /** The URL does not point at this simulator's upload storage. */
  | { kind: 'foreign' }
  /** It does, but the slot is unknown, the signature wrong, or nothing (or nothing non-empty) was PUT. */
  | { kind: 'unreadable'; reason: string }
  | { kind: 'readable'; slot: UploadSlot };

/** Path prefix of upload slots on the simulator (outside `/v1`, like a storage bucket). */
export const UPLOADS_PATH = '/storage/uploads';

/**
 * The simulator's stand-in for the temporary storage bucket behind `GET /upload`: each call
 * opens a slot reachable through two signed URLs, one for PUT and one for GET. Like signed
 * cloud-storage URLs, they need no `Authorization` header, only the right `signature`.
 *
 * @example
 * const slots = new UploadSlots(() => 'http://127.0.0.1:4000');
 * const { uploadUrl, downloadUrl } = slots.open();
 */
export class UploadSlots {
  readonly #slots = new Map<string, UploadSlot>();
  /** Slots PUT since the last {@link save} (or ever, without a state file). */
  readonly #unsaved = new Set<string>();
  readonly #baseUrl: () => string;

  constructor(baseUrl: () => string) {
    this.#baseUrl = baseUrl;
  }

  /** Opens a slot and returns its signed URLs (the body of `GET /upload`). */
  open(): { uploadUrl: string; downloadUrl: string } {
    const slot: UploadSlot = {
      id: randomUUID(),
      writeSignature: randomBytes(16).toString('hex'),
      readSignature: randomBytes(16).toString('hex'),
    };
    this.#slots.set(slot.id, slot);
    const base = `${this.#baseUrl()}${UPLOADS_PATH}/${slot.id}`;
    return { uploadUrl: `${base}?signature=${slot.writeSignature}`, downloadUrl: `${base}?signature=${slot.readSignature}` };
  }

  /** Stores bytes in a slot; `false` when the slot is unknown or the signature wrong. */
  write(id: string, signature: string | undefined, bytes: Buffer, contentType: string | undefined): boolean {
    const slot = this.#slots.get(id);
    if (slot === undefined || signature !== slot.writeSignature) return false;
    slot.bytes = bytes;
    this.#unsaved.add(id);
    if (contentType !== undefined) slot.contentType = contentType;
    else delete slot.contentType;
    return true;
  }

  /** The stored bytes of a slot, or `undefined` when unknown, unsigned or never written. */
  read(id: string, signature: string | undefined): UploadSlot | undefined {
    const slot = this.#slots.get(id);
    if (slot === undefined || signature !== slot.readSignature || slot.bytes === undefined) return undefined;
    return slot;
  }

  /**
   * Looks behind a job's `inputUrl` without any network call: whether it names one of this
   * simulator's upload slots and, if so, whether that slot holds a readable, non-empty file.
   */
  inspect(inputUrl: string): SlotInspection {
    let url: URL;
    let base: URL;
    try {
      url = new URL(inputUrl);
      base = new URL(this.#baseUrl());
    } catch {
      return { kind: 'foreign' };
    }
    if (url.origin !== base.origin || !url.pathname.startsWith(`${UPLOADS_PATH}/`)) return { kind: 'foreign' };
    const id = url.pathname.slice(UPLOADS_PATH.length + 1);
    const slot = this.#slots.get(id);
    if (slot === undefined) return { kind: 'unreadable', reason: 'File not found.' };
    const signature = url.searchParams.get('signature');
    if (signature !== slot.readSignature && signature !== slot.writeSignature) {
      return { kind: 'unreadable', reason: 'Access to the input file was denied (invalid signature).' };
    }
    if (slot.bytes === undefined) return { kind: 'unreadable', reason: 'File not found: nothing was uploaded to this URL.' };
    if (slot.bytes.length === 0) return { kind: 'unreadable', reason: 'The input file is empty.' };
    return { kind: 'readable', slot };
  }

  /**
   * Writes the bytes of slots PUT since the last save into `dir` (one file per slot id, each
   * replaced atomically) and returns every slot as the state file keeps it.
   */
  async save(dir: string): Promise<UploadSlotState[]> {
    for (const id of this.#unsaved) {
      const bytes = this.#slots.get(id)?.bytes;
      if (bytes !== undefined) await writeFileAtomic(join(dir, id), bytes);
    }
    this.#unsaved.clear();
    return [...this.#slots.values()].map(({ id, writeSignature, readSignature, bytes, contentType }) => ({
      id,
      writeSignature,
      readSignature,
      size: bytes === undefined ? null : bytes.length,
      ...(contentType === undefined ? {} : { contentType }),
    }));
  }

  /**
   * Takes back the slots of a state file, reading the bytes of each PUT slot from `dir`; a
   * missing file or one of another size is a {@link SimulatorStateError} naming it.
   */
  async restore(dir: string, saved: readonly UploadSlotState[]): Promise<void> {
    for (const { size, contentType, ...keys } of saved) {
      const slot: UploadSlot = { ...keys, ...(contentType === undefined ? {} : { contentType }) };
      if (size !== null) {
        const file = join(dir, slot.id);
        const bytes = await readFile(file).catch((error: unknown) => {
          throw new SimulatorStateError(file, `cannot be read (${(error as Error).message})`, { cause: error });
        });
        if (bytes.length !== size) throw new SimulatorStateError(file, `holds ${bytes.length} bytes, the state file says ${size}`);
        slot.bytes = bytes;
      }
      this.#slots.set(slot.id, slot);
    }
  }
}
