import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '../../src/clock.js';
import type { DuoIntegration, DuoRouteModule } from '../../src/duo/door.js';
import type { DuoTarget } from './duo-clients.js';
import { startHarness, type Harness } from './harness.js';
import type { TestPki } from './tls.js';

/** The system clock moved by `offsetMs`: the official clients date their requests by the real clock. */
export class OffsetClock extends ManualClock {
  offsetMs = 0;
  override now(): number {
    return Date.now() + this.offsetMs;
  }
}

export interface TestIntegration extends DuoIntegration {
  ikey: string;
  name: string;
}

/** An integration key and secret key of Duo's shapes (20 and 40 characters). */
export function newKeys(): { ikey: string; skey: string } {
  const alnum = (n: number) =>
    Array.from(randomBytes(n), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[b % 36])
      .join('');
  return { ikey: `DI${alnum(18)}`, skey: randomBytes(30).toString('base64').replace(/[+/]/g, 'x') };
}

export interface DuoServer {
  harness: Harness;
  clock: OffsetClock;
  target: DuoTarget;
  /** The test registry behind lookupIntegration: add and remove integrations at will. */
  integrations: Map<string, TestIntegration>;
  /** Every integration key the door looked up, in order. */
  lookups: string[];
  /** When set, the next look-up throws this (a database outage, a bug) instead of answering. */
  failNextLookup: Error | null;
  close(): Promise<void>;
}

/**
 * A real Tessera app (buildApp on a fresh database) serving HTTPS with the test PKI on a free
 * port of localhost, with the Duo door mounted on a test look-up (the applications registry
 * that will hold integrations is another piece of work).
 */
export async function startDuoServer(pki: TestPki, options: { routes?: DuoRouteModule[] } = {}): Promise<DuoServer> {
  const integrations = new Map<string, TestIntegration>();
  const lookups: string[] = [];
  const clock = new OffsetClock();
  let server: DuoServer;
  const harness = await startHarness({
    clock,
    env: { TESSERA_TLS_CERT: pki.certFile, TESSERA_TLS_KEY: pki.keyFile },
    duo: {
      routes: options.routes,
      lookupIntegration: async (ikey: string) => {
        lookups.push(ikey);
        const failure = server.failNextLookup;
        server.failNextLookup = null;
        if (failure) throw failure;
        return integrations.get(ikey) ?? null;
      },
    },
  });
  await harness.app.listen({ host: 'localhost', port: 0 });
  const { port } = harness.app.server.address() as AddressInfo;
  server = {
    harness,
    clock,
    target: { host: 'localhost', port, caFile: pki.caFile, caPem: pki.caPem },
    integrations,
    lookups,
    failNextLookup: null,
    close: () => harness.close(),
  };
  return server;
}
