import type { AddressInfo } from 'node:net';
import type { DuoTarget } from './duo-clients.js';
import { OffsetClock } from './duo-server.js';
import { startHarness, type Harness } from './harness.js';
import { createTestPki, type TestPki } from './tls.js';

/** The system clock moved by hand: the official clients date their requests (and JWTs) by the real clock; TOTP steps and expiries move with advance(). */
export class DuoClock extends OffsetClock {
  override advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface DuoTlsHarness {
  pki: TestPki;
  h: Harness;
  clock: DuoClock;
  /** Where Duo's clients reach this Tessera: https://localhost:<port>, trusting the test CA. */
  target: DuoTarget;
  close(): Promise<void>;
}

/** A whole Tessera serving TLS itself (TESSERA_TLS_CERT/KEY, a test CA), listening on localhost: what Duo's official clients need. */
export async function startDuoTlsHarness(): Promise<DuoTlsHarness> {
  const pki = await createTestPki();
  const clock = new DuoClock();
  const h = await startHarness({ clock, env: { TESSERA_TLS_CERT: pki.certFile, TESSERA_TLS_KEY: pki.keyFile } });
  await h.app.listen({ host: 'localhost', port: 0 });
  const target = { host: 'localhost', port: (h.app.server.address() as AddressInfo).port, caFile: pki.caFile, caPem: pki.caPem };
  return {
    pki,
    h,
    clock,
    target,
    close: async () => {
      await h.close();
      pki.remove();
    },
  };
}

/** The pending push of a user, as the phone sees it (after a Duo door sent it). */
export async function pendingPush(h: Harness, userId: string): Promise<{ id: string; number: string }> {
  for (let i = 0; i < 200; i++) {
    const row = await h.ctx.db.selectFrom('push_transactions').select(['id', 'number']).where('user_id', '=', userId).where('status', '=', 'pending').executeTakeFirst();
    if (row) return row;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no push arrived');
}
