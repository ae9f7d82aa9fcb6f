import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import xterm from '@xterm/headless';

const CLI = join(import.meta.dirname, '../../src/cli.ts');

/** Quotes one word for `sh -c`. */
const shellWord = (word: string): string => `'${word.replaceAll("'", `'"'"'`)}'`;

/**
 * `jobstream <args>` in a real pseudo-terminal of a given size, read through a real terminal
 * emulator. util-linux `script` (in every Debian, package bsdutils) gives the command a pty
 * sized with `stty`, so the CLI sees `isTTY`, `rows` and `columns` as a person's terminal would;
 * every byte it writes goes through xterm.js (headless), so the test reads the screen and the
 * scrollback a person would see, wrapped lines and all.
 *
 * @example
 * const term = PseudoTerminal.run(['watch'], { rows: 24, columns: 80, env });
 * await term.waitFor((t) => t.screen().some((line) => line.includes('succeeded')));
 * term.pressCtrlC();
 * expect(await term.exited).toBe(130);
 */
export class PseudoTerminal {
  readonly terminal: xterm.Terminal;
  readonly child: ChildProcess;
  /** The process's exit code (`script -e` passes the command's on). */
  readonly exited: Promise<number | null>;
  stderr = '';
  #closed = false;
  #waiters: (() => void)[] = [];
  #pending = Promise.resolve();

  private constructor(args: readonly string[], size: { rows: number; columns: number }, env: Record<string, string>) {
    this.terminal = new xterm.Terminal({ rows: size.rows, cols: size.columns, scrollback: 100_000, allowProposedApi: true });
    const command = `stty rows ${size.rows} cols ${size.columns} && exec ${[process.execPath, '--import', 'tsx', CLI, ...args].map(shellWord).join(' ')}`;
    this.child = spawn('script', ['--quiet', '--flush', '--return', '--command', command, '/dev/null'], {
      env: { ...process.env, TERM: 'xterm-256color', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => {
      // Each chunk is parsed before the next one and before waiters look at the screen.
      this.#pending = this.#pending.then(() => new Promise<void>((resolve) => this.terminal.write(chunk, resolve))).then(() => this.#wake());
    });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code) => {
        void this.#pending.then(() => {
          this.#closed = true;
          this.#wake();
          resolve(code);
        });
      });
    });
  }

  /** Starts `jobstream <args>` in a terminal of `rows` × `columns`. */
  static run(args: readonly string[], options: { rows: number; columns: number; env?: Record<string, string> }): PseudoTerminal {
    return new PseudoTerminal(args, options, options.env ?? {});
  }

  /** The visible screen, one string per row (right-trimmed). */
  screen(): string[] {
    const buffer = this.terminal.buffer.active;
    return Array.from({ length: this.terminal.rows }, (_, y) => buffer.getLine(buffer.baseY + y)?.translateToString(true) ?? '');
  }

  /** How many lines have scrolled off the top of the screen into the scrollback. */
  scrollback(): number {
    return this.terminal.buffer.active.baseY;
  }

  /** Every line the terminal holds, scrollback first, with whether it continues a wrapped line. */
  lines(): { text: string; wrapped: boolean }[] {
    const buffer = this.terminal.buffer.active;
    return Array.from({ length: buffer.length }, (_, y) => {
      const line = buffer.getLine(y);
      return { text: line?.translateToString(true) ?? '', wrapped: line?.isWrapped ?? false };
    });
  }

  /** Every line the terminal holds as the program wrote it: wrapped rows joined again. */
  logicalLines(): string[] {
    const joined: string[] = [];
    for (const line of this.lines()) {
      if (line.wrapped && joined.length > 0) joined[joined.length - 1] += line.text;
      else joined.push(line.text);
    }
    return joined;
  }

  /** Types Ctrl-C: the pty sends SIGINT to the command, as a keyboard would. */
  pressCtrlC(): void {
    this.child.stdin!.write('\x03');
  }

  /**
   * Resolves once `condition` holds for the terminal (checked after each chunk of output is
   * parsed); rejects when the command exits first or after `timeoutMs`, with the screen.
   */
  async waitFor(condition: (term: PseudoTerminal) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (condition(this)) return;
      const left = deadline - Date.now();
      if (this.#closed || left <= 0) {
        throw new Error(`terminal: ${what}: ${this.#closed ? 'the command exited' : `not within ${timeoutMs} ms`}\nscreen:\n${this.screen().join('\n')}\nstderr:\n${this.stderr}`);
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

  /** Kills the command if it still runs; for `afterEach`. */
  async kill(): Promise<void> {
    if (!this.#closed) this.child.kill('SIGKILL');
    await this.exited;
    this.terminal.dispose();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
