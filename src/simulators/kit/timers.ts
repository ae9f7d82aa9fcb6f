/**
 * The timers a simulator has pending (webhooks due, probes to retry), cleared all at once when
 * the simulator closes. Each timer forgets itself once it has fired.
 *
 * @example
 * const timers = new SimulatorTimers();
 * timers.schedule(() => webhooks.send(url, body, id), 1500);
 * timers.clear(); // on close: nothing fires any more
 */
export class SimulatorTimers {
  readonly #pending = new Set<NodeJS.Timeout>();

  /** Calls `fire` after `delayMs` unless {@link clear} runs first. */
  schedule(fire: () => void, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#pending.delete(timer);
      fire();
    }, delayMs);
    this.#pending.add(timer);
  }

  /** How many timers have not fired yet. */
  get size(): number {
    return this.#pending.size;
  }

  /** Cancels every pending timer. Idempotent. */
  clear(): void {
    for (const timer of this.#pending) clearTimeout(timer);
    this.#pending.clear();
  }
}
