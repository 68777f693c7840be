import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { Random } from '@app/sse-resume/testing/prng';

export type CutKind = 'fin' | 'reset';

export interface CuttingProxyOptions {
  /** Base URL of the app to forward to (loopback). */
  target: string;
  /** Seed of the byte budgets. */
  seed: number;
  /** Each selected response is cut after a random number of bytes in [minBytes, maxBytes]. */
  minBytes: number;
  maxBytes: number;
  /** Which requests get cut, by request line (`GET /path HTTP/1.1`). Default: all. */
  cutRequest?: (requestLine: string) => boolean;
  /** Stop cutting after this many cuts. Default: never stop. */
  maxCuts?: number;
}

export interface CutRecord {
  kind: CutKind;
  requestLine: string;
  /** Response bytes (head included) the client got before the cut. */
  bytes: number;
}

export interface CuttingProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  readonly cuts: readonly CutRecord[];
  /** Client connections accepted so far. */
  readonly connections: number;
  /** Turns cutting on or off for requests that start from now on. */
  enabled: boolean;
  close(): Promise<void>;
}

/** Pause between writing the last bytes and resetting (see the cut). */
const RESET_DELAY_MS = 10;

const REQUEST_LINE = /^(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ HTTP\/1\.[01](?=\r\n)/;

/**
 * A loopback TCP proxy that forwards every byte both ways, but cuts the client's
 * connection after a seeded random number of response bytes: alternately with a FIN
 * (`socket.end()`) and an RST (`socket.resetAndDestroy()`). The upstream connection is
 * destroyed at the same moment, so the server sees its client vanish.
 */
export async function startCuttingProxy(options: CuttingProxyOptions): Promise<CuttingProxy> {
  const target = new URL(options.target);
  const rng = new Random(options.seed);
  const cuts: CutRecord[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const state = { enabled: true };

  const server = createServer((client) => {
    connections++;
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    sockets.add(client);
    sockets.add(upstream);
    client.once('close', () => sockets.delete(client));
    upstream.once('close', () => sockets.delete(upstream));
    let budget: number | undefined;
    let requestLine = '';
    let sent = 0;
    let cut = false;

    client.on('data', (data: Buffer) => {
      if (cut) return;
      const line = REQUEST_LINE.exec(data.toString('latin1', 0, Math.min(data.length, 8192)));
      if (line) {
        requestLine = line[0];
        sent = 0;
        const selected = (options.cutRequest?.(requestLine) ?? true) && state.enabled;
        const underLimit = options.maxCuts === undefined || cuts.length < options.maxCuts;
        budget = selected && underLimit ? rng.int(options.minBytes, options.maxBytes) : undefined;
      }
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => {
      if (cut) return;
      // Budgets are drawn when a request starts; several may be running when the last cut happens.
      if (options.maxCuts !== undefined && cuts.length >= options.maxCuts) budget = undefined;
      if (budget === undefined || sent + data.length < budget) {
        sent += data.length;
        client.write(data);
        return;
      }
      cut = true;
      const part = data.subarray(0, budget - sent);
      const kind: CutKind = cuts.length % 2 === 0 ? 'fin' : 'reset';
      cuts.push({ kind, requestLine, bytes: budget });
      upstream.destroy();
      if (kind === 'fin') {
        client.end(part);
      } else {
        // Reset once the client has read the bytes: an RST that arrives while data waits
        // unread in the client's receive queue reads as a plain EOF on Linux (and one sent
        // from inside the write callback goes out as a FIN). Both would hide the RST.
        client.write(part, () => {
          setTimeout(() => {
            if (!client.destroyed) client.resetAndDestroy();
          }, RESET_DELAY_MS);
        });
      }
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => {
      if (!cut) client.end();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      if (!cut) client.destroy();
    });
    // Resets and early closes are the point of this proxy; they are not errors.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    cuts,
    get connections() {
      return connections;
    },
    get enabled() {
      return state.enabled;
    },
    set enabled(value: boolean) {
      state.enabled = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
