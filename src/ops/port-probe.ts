import net from 'node:net';

/**
 * The start-up's first step (issue 16.10): is the port free? A probe listens on the host and
 * port the server will use and closes again, before the database is opened or migrated and
 * before any key file is made, so a start that cannot serve leaves the data folder as it was.
 * Another process may still take the port between the probe and the real listen; that start
 * ends with the same one line (the database has been opened by then).
 */
export class PortUnavailable extends Error {
  static readonly EXIT_CODE = 3;
  constructor(
    readonly host: string,
    readonly port: number,
    readonly code: string,
  ) {
    super(`port ${port} on ${host}: ${code}`);
  }
}

/** Resolves when `host:port` can be listened on; rejects with PortUnavailable when it cannot. */
export function probePort(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(err.code ? new PortUnavailable(host, port, err.code) : err));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'is already in use by another process',
  EACCES: 'needs privileges this process does not have',
  EADDRNOTAVAIL: 'is on an address this machine does not have (TESSERA_HOST)',
};

/** The one line a start that cannot listen ends with, or null when `err` is something else. */
export function portUnavailableLine(err: unknown): string | null {
  const e = err as NodeJS.ErrnoException & { host?: string; port?: number; address?: string };
  const code = err instanceof PortUnavailable ? err.code : e?.syscall === 'listen' ? e.code : undefined;
  if (!code || !REASONS[code]) return null;
  const port = err instanceof PortUnavailable ? err.port : e.port;
  const host = err instanceof PortUnavailable ? err.host : e.address;
  return `Tessera cannot start: port ${port} on ${host} ${REASONS[code]}. Stop the other process or set TESSERA_PORT to a free port.`;
}
