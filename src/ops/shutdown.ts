/** A stopping process has this long to finish; then it exits anyway (exit code 1). */
export const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Graceful shutdown on SIGTERM (what orchestrators send) and SIGINT (Ctrl-C): `stop` runs
 * once (stop accepting, finish requests in flight, close streams, workers and the database)
 * and the process exits 0; if it takes longer than the grace period, or fails, it exits 1.
 * A second signal does not start a second shutdown.
 */
export function exitGracefullyOnSignals(stop: (signal: string) => Promise<void>, announce: (line: string) => void, graceMs = SHUTDOWN_GRACE_MS): void {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    announce(`${signal} received: finishing the requests in flight, then stopping (at most ${graceMs / 1000} s).`);
    const force = setTimeout(() => {
      announce(`Shutdown did not finish within ${graceMs / 1000} s: exiting now.`);
      process.exit(1);
    }, graceMs);
    force.unref();
    stop(signal).then(
      () => {
        announce('Stopped.');
        process.exit(0);
      },
      (err: unknown) => {
        console.error('Shutdown failed:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
