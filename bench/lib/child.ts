import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A message from parent to child: a call that the child answers with the same `id`. */
export interface CallMessage {
  id: number;
  cmd: string;
  args: unknown;
}

/** A message from child to parent: an answer to a call, or an unsolicited event. */
export type ChildMessage =
  | { id: number; result: unknown }
  | { id: number; error: string }
  | { event: string; data: unknown };

/** Options of {@link BenchChild.start}. */
export interface BenchChildOptions {
  /** Extra Node flags, e.g. `--expose-gc`. */
  nodeArgs?: readonly string[];
  args?: readonly string[];
  /**
   * File descriptors the child needs (sockets). When the soft limit is lower and the hard limit
   * allows, the child is started through `sh -c 'ulimit -n …'`; otherwise the start fails naming
   * the limit.
   */
  fds?: number;
  /** How long to wait for the child's `ready` event. @default 60000 */
  readyTimeoutMs?: number;
}

const TSX = import.meta.resolve('tsx');

/**
 * A TypeScript child process (run with tsx) spoken to over IPC: `call` sends a command and
 * resolves with the child's answer; `on` hears the child's events. Every wait is bounded.
 * The child side is {@link serveParent} in `child-side.ts`.
 *
 * @example
 * const fleet = await BenchChild.start(new URL('./subscriber-fleet.ts', import.meta.url));
 * await fleet.call('connect', { name: 'bare', url, count: 1000 });
 * await fleet.stop();
 */
export class BenchChild {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  readonly #listeners = new Map<string, Set<(data: unknown) => void>>();
  readonly #exited: Promise<number | null>;
  #nextId = 1;
  #stderr = '';

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-8000);
      process.stderr.write(chunk);
    });
    child.on('message', (raw: unknown) => this.#receive(raw as ChildMessage));
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        for (const pending of this.#pending.values()) pending.reject(new Error(`child exited (${code}) ${this.#stderr.slice(-2000)}`));
        this.#pending.clear();
        resolve(code);
      });
    });
  }

  /** Starts `script` and waits for its `ready` event. */
  static async start(script: URL, options: BenchChildOptions = {}): Promise<BenchChild> {
    const argv = ['--import', TSX, ...(options.nodeArgs ?? []), fileURLToPath(script), ...(options.args ?? [])];
    const stdio: ['ignore', 'inherit', 'pipe', 'ipc'] = ['ignore', 'inherit', 'pipe', 'ipc'];
    let child: ChildProcess;
    const limits = openFileLimits();
    if (options.fds !== undefined && limits !== undefined && limits.soft < options.fds) {
      if (limits.hard < options.fds) {
        throw new Error(`the child needs ${options.fds} open files; ulimit -n is ${limits.soft} (hard ${limits.hard})`);
      }
      child = spawn('/bin/sh', ['-c', `ulimit -n ${limits.hard} && exec "$0" "$@"`, process.execPath, ...argv], { stdio });
    } else {
      child = spawn(process.execPath, argv, { stdio });
    }
    const handle = new BenchChild(child);
    await handle.next('ready', options.readyTimeoutMs ?? 60_000);
    return handle;
  }

  /** The child's process id. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Settles with the exit code once the child has exited (also after a kill from outside). */
  get exited(): Promise<number | null> {
    return this.#exited;
  }

  /** Sends a command and resolves with the child's answer (rejects on its error or a timeout). */
  call<T = unknown>(cmd: string, args: unknown = {}, timeoutMs = 180_000): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`child command "${cmd}" took more than ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      // With a callback, a child that has gone (killed from outside) rejects the call instead of
      // raising an 'error' event nobody listens to.
      this.#child.send({ id, cmd, args } satisfies CallMessage, (error) => {
        if (error === null) return;
        this.#pending.get(id)?.reject(error);
        this.#pending.delete(id);
      });
    });
  }

  /** Listens to an event; returns a function that stops listening. */
  on(event: string, listener: (data: unknown) => void): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** The next occurrence of an event. */
  next(event: string, timeoutMs = 60_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no "${event}" from the child within ${timeoutMs} ms ${this.#stderr.slice(-2000)}`));
      }, timeoutMs);
      const off = this.on(event, (data) => {
        clearTimeout(timer);
        off();
        resolve(data);
      });
      void this.#exited.then(() => {
        clearTimeout(timer);
        off();
        reject(new Error(`the child exited before "${event}" ${this.#stderr.slice(-2000)}`));
      });
    });
  }

  /** Asks the child to exit; kills it (by its pid) when it does not within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.call('exit', {}, timeoutMs).catch(() => undefined);
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }

  #receive(message: ChildMessage): void {
    if ('event' in message) {
      for (const listener of [...(this.#listeners.get(message.event) ?? [])]) listener(message.data);
      return;
    }
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    if ('error' in message) pending.reject(new Error(message.error));
    else pending.resolve(message.result);
  }
}

/** This process's open-file limits, from /proc/self/limits (Linux), or undefined. */
export function openFileLimits(): { soft: number; hard: number } | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = line?.split(/\s{2,}/).slice(1, 3) ?? [];
    const parse = (v: string | undefined) => (v === 'unlimited' ? Infinity : Number(v));
    return soft === undefined ? undefined : { soft: parse(soft), hard: parse(hard) };
  } catch {
    return undefined;
  }
}
