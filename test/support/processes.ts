import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The `jobstream` command's entry point, run through tsx like `npm start` does. */
export const CLI = join(import.meta.dirname, '../../src/cli.ts');

/** One JSON log line of `jobstream serve`: `level`, `time`, `msg` and the event's fields. */
export type LogRecord = Record<string, unknown> & { level: string; msg: string };

function parseLogLine(line: string): LogRecord | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const record = JSON.parse(line) as Partial<LogRecord> | null;
    return typeof record?.level === 'string' && typeof record.msg === 'string' ? (record as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** How a child process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A child process under test: keeps every stdout line and all of stderr, lets a test await a
 * stdout line matching a pattern (bounded by a timeout), and stops it with a signal.
 *
 * Every process started here is remembered until it exits, so `killAll()` in an `afterAll`
 * leaves nothing running even when a test failed halfway.
 *
 * @example
 * const sim = TestProcess.cli(['simulate', 'klangio', '--port', '0']);
 * const [, url] = await sim.waitForLine(/base URL: (\S+)/);
 * expect(await sim.stop('SIGTERM')).toEqual({ code: 0, signal: null });
 */
export class TestProcess {
  static readonly #running = new Set<TestProcess>();

  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ProcessExit>;
  #exit: ProcessExit | undefined;
  #waiters: (() => void)[] = [];

  private constructor(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv) {
    this.name = name;
    this.child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    TestProcess.#running.add(this);
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.#wake();
    });
    this.exited = new Promise((resolve) => {
      // 'close' rather than 'exit': stdout has been read to its end by then.
      this.child.once('close', (code, signal) => {
        this.#exit = { code, signal };
        TestProcess.#running.delete(this);
        this.#wake();
        resolve(this.#exit);
      });
      this.child.once('error', (error) => {
        this.stderr += `spawn failed: ${error.message}\n`;
      });
    });
  }

  /**
   * Runs `node --import tsx src/cli.ts <args>` with the given environment on top of this one.
   * `JOBSTREAM_ALLOW_PRIVATE_URLS` is `true` unless `env` says otherwise: test servers fetch
   * input and result URLs from simulators and audio servers on loopback.
   */
  static cli(args: readonly string[], env: Record<string, string> = {}): TestProcess {
    const name = `jobstream ${args.slice(0, 2).join(' ')}`;
    return new TestProcess(name, process.execPath, ['--import', 'tsx', CLI, ...args], { ...process.env, JOBSTREAM_ALLOW_PRIVATE_URLS: 'true', ...env });
  }

  /** Kills (SIGKILL) every process still running; for `afterAll`. */
  static async killAll(): Promise<void> {
    const running = [...TestProcess.#running];
    for (const proc of running) proc.child.kill('SIGKILL');
    await Promise.all(running.map((proc) => proc.exited));
  }

  /** How it exited, or `undefined` while it runs. */
  get exit(): ProcessExit | undefined {
    return this.#exit;
  }

  /**
   * Resolves with the match of the first stdout line (from the start of its output) that
   * matches `pattern`. Rejects when the process exits first or after `timeoutMs`, with what it
   * printed.
   */
  waitForLine(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
    return this.#waitFor((line) => pattern.exec(line) ?? undefined, String(pattern), timeoutMs);
  }

  /**
   * Resolves with the first JSON log line on stdout (`jobstream serve` logs JSON lines when its
   * stdout is not a terminal) whose `msg` is `msg`, parsed. Rejects like {@link waitForLine}.
   */
  waitForLog(msg: string, timeoutMs = 15_000): Promise<LogRecord> {
    return this.#waitFor((line) => {
      const record = parseLogLine(line);
      return record?.msg === msg ? record : undefined;
    }, `a JSON log line "${msg}"`, timeoutMs);
  }

  /** Resolves with the URL of a `jobstream serve` once it logged that it listens. */
  async waitForListening(timeoutMs = 15_000): Promise<string> {
    return String((await this.waitForLog('server listening', timeoutMs)).url);
  }

  /** Every stdout line so far that is a JSON log record, parsed. */
  get logs(): LogRecord[] {
    return this.lines.map(parseLogLine).filter((record) => record !== undefined);
  }

  async #waitFor<T>(find: (line: string) => T | undefined, what: string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.lines) {
        const found = find(line);
        if (found !== undefined) return found;
      }
      const left = deadline - Date.now();
      if (this.#exit !== undefined || left <= 0) {
        const why = this.#exit === undefined ? `not within ${timeoutMs} ms` : `it exited (${JSON.stringify(this.#exit)})`;
        throw new Error(`${this.name}: no stdout line matching ${what}: ${why}\nstdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Sends `signal` and resolves with how the process exited. If it has not exited after
   * `timeoutMs` it is killed with SIGKILL and the promise rejects.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ProcessExit> {
    if (this.#exit !== undefined) return this.#exit;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (outcome !== 'timeout') return outcome;
    this.child.kill('SIGKILL');
    await this.exited;
    throw new Error(`${this.name} did not exit within ${timeoutMs} ms of ${signal}\nstderr:\n${this.stderr}`);
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
