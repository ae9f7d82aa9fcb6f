import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** A loopback TCP proxy whose connections a test can cut, to force disconnects. */
export interface TcpProxy {
  readonly port: number;
  /** Destroys every connection open now (both sides). Returns how many. */
  cutAll(): number;
  /** While true, new connections are closed at once (the server looks unreachable). */
  refusing: boolean;
  /** Everything the target sent to clients since the last {@link takeDownstream}, as text. */
  takeDownstream(): string;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let downstream: Buffer[] = [];
  const state = { refusing: false };
  const server = createServer((client) => {
    if (state.refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream).pipe(client);
    upstream.on('data', (chunk: Buffer) => downstream.push(chunk));
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const cutAll = (): number => {
    const n = pairs.size;
    for (const [a, b] of [...pairs]) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
    return n;
  };
  return {
    port: (server.address() as AddressInfo).port,
    cutAll,
    get refusing() {
      return state.refusing;
    },
    set refusing(value: boolean) {
      state.refusing = value;
    },
    takeDownstream() {
      const text = Buffer.concat(downstream).toString('latin1');
      downstream = [];
      return text;
    },
    close() {
      cutAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
