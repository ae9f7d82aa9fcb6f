import type { CallMessage, ChildMessage } from './child.js';

/** A command the child runs for its parent; the resolved value is the answer. */
export type Handler = (args: never) => unknown;

/**
 * The child side of {@link BenchChild}: runs each command with its handler and answers it,
 * answers `exit` by exiting, and announces `ready`. Returns `emit` for unsolicited events.
 *
 * @example
 * const { emit } = serveParent({ connect: async (args: { url: string }) => { … } });
 */
export function serveParent(handlers: Record<string, Handler>): { emit: (event: string, data?: unknown) => void } {
  const send = (message: ChildMessage): void => {
    process.send?.(message);
  };
  process.on('message', (raw: unknown) => {
    const { id, cmd, args } = raw as CallMessage;
    if (cmd === 'exit') {
      send({ id, result: null });
      setTimeout(() => process.exit(0), 20);
      return;
    }
    const handler = handlers[cmd];
    if (handler === undefined) return send({ id, error: `unknown command "${cmd}"` });
    Promise.resolve()
      .then(() => (handler as (args: unknown) => unknown)(args))
      .then(
        (result) => send({ id, result: result ?? null }),
        (error: unknown) => send({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
  // The parent going away (a crash, Ctrl-C) must not leave this process behind.
  process.on('disconnect', () => process.exit(0));
  send({ event: 'ready', data: process.pid });
  return { emit: (event, data = null) => send({ event, data }) };
}

/** Collects garbage until the heap stops shrinking (needs `--expose-gc`) and returns heapUsed. */
export async function settledHeap(): Promise<number> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  let last = Infinity;
  for (let i = 0; i < 8; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    const used = process.memoryUsage().heapUsed;
    if (Math.abs(last - used) < 4096) return used;
    last = used;
  }
  return last;
}
