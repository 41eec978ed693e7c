import { buildApp } from './app.js';
import { systemClock } from './clock.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import type { AppContext } from './context.js';
import { loadSecretBox } from './crypto/master-key.js';
import { createDatabase, isDatabaseUnavailable } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { seedDemo } from './demo.js';
import { wakePushWaiters } from './factors/push/push-hub.js';
import { loadVapidKeysAtStart } from './factors/push/web-push.js';
import { describeReseal, resealSecrets } from './crypto/reseal.job.js';
import { queueResealWhileKeysRetired, runHousekeeping } from './housekeeping.js';
import { startJobWorker } from './jobs/job.service.js';
import { createMailService } from './notify/mail.service.js';
import { KEY_REFRESH_MS, rotateSigningKeys } from './oidc/keys.js';
import { ensureOperatorSetup, issueOperatorSetupLink } from './operators/bootstrap.js';
import { exitGracefullyOnSignals } from './ops/shutdown.js';
import { PortUnavailable, portUnavailableLine, probePort } from './ops/port-probe.js';

/** Process entry: config -> database -> app -> listen. Flags: --demo, --setup-link, --reseal, --rotate-signing-keys. */
async function main(argv: string[]): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`Tessera cannot start: configuration error in ${err.message}`);
      process.exit(2);
    }
    throw err;
  }

  // The port first: a start that cannot serve writes nothing (no SQLite file, no key files, no migration).
  const serving = !argv.some((flag) => ['--setup-link', '--reseal', '--rotate-signing-keys'].includes(flag));
  if (serving) await probePort(config.host, config.port);

  const db = createDatabase(config.database);
  await migrateToLatest(db);
  const announce = (line: string) => console.log(line);
  const mail = createMailService({ db, clock: systemClock, smtpUrl: config.smtpUrl, from: config.mailFrom, announce });
  const secrets = loadSecretBox(config);
  const ctx: AppContext = { config, db, clock: systemClock, mail, secrets, announce };

  if (argv.includes('--setup-link')) {
    announce(`Operator setup link (valid ${config.oneTimeLinkMs / 3_600_000} h, works once): ${await issueOperatorSetupLink(ctx)}`);
    await db.destroy();
    return;
  }

  if (argv.includes('--reseal')) {
    // Master-key rotation: re-seal now what the job would, and say whether the retired keys may go.
    const report = await resealSecrets(ctx);
    for (const line of describeReseal(report)) announce(line);
    await db.destroy();
    process.exitCode = report.left === 0 ? 0 : 1;
    return;
  }

  if (argv.includes('--rotate-signing-keys')) {
    // The OpenID Provider's ID-token signing keys (src/oidc/keys.ts): new ones published now,
    // signing once every running process has loaded them; the old ones published until their tokens expire.
    const rotation = await rotateSigningKeys(ctx);
    const when = (ms: number) => new Date(ms).toISOString();
    for (const k of rotation.created) announce(`New ${k.alg} signing key ${k.kid}: published now, signs from ${when(k.activeFrom)}.`);
    for (const k of rotation.retired) announce(`Retired ${k.alg} signing key ${k.kid}: published until ${when(k.publishUntil)}.`);
    announce(`Running Tessera processes load the new keys within ${KEY_REFRESH_MS / 1000} s; nothing needs a restart.`);
    await db.destroy();
    return;
  }

  const app = await buildApp(ctx);
  // The Web Push (VAPID) key pair is made on the first start and shared by every process.
  await loadVapidKeysAtStart(ctx, (message, err) => app.log.error({ err }, message));
  await queueResealWhileKeysRetired(ctx);
  await app.listen({ host: config.host, port: config.port });
  mail.start();
  const jobs = startJobWorker(ctx);
  const housekeeping = setInterval(() => {
    runHousekeeping(ctx).catch((err) => app.log.error({ err }, 'housekeeping failed'));
  }, 10 * 60_000);
  housekeeping.unref();

  // The process keeps serving through a failed background promise (e.g. the database went away
  // under a timer); the state is in the database, and dropping every open stream helps no one.
  process.on('unhandledRejection', (err) => app.log.error({ err }, 'unhandled promise rejection'));

  // What the start still does after listening (the operator setup link, the demo firm) writes to the
  // database: a signal meanwhile lets it finish before the database closes, so a stop right after
  // the start is still a clean one (exit 0), not a start that failed.
  let finishingStart: Promise<unknown> = Promise.resolve();
  exitGracefullyOnSignals(async () => {
    clearInterval(housekeeping);
    // app.close() stops accepting, ends the device streams (preClose) and waits for the requests
    // in flight. Meanwhile: the push long-polls are woken so they answer now, not in 25 s, and
    // keep-alive connections are closed as soon as their last request is answered (Node closes
    // only those idle when close() starts; the others would hold the server for the keep-alive timeout).
    const waking = setInterval(() => {
      wakePushWaiters(ctx);
      app.server.closeIdleConnections();
    }, 100);
    try {
      await app.close();
    } finally {
      clearInterval(waking);
    }
    await finishingStart.catch(() => undefined);
    await jobs.stop();
    await mail.stop();
    await db.destroy();
  }, announce);

  // So are the OpenID Provider's signing keys: made now if there are none (an RSA key takes a
  // moment; requests to the provider meanwhile wait for it), and the provider built. In the
  // background, after the signal handlers: a SIGTERM meanwhile is a graceful stop, and a database
  // that goes away meanwhile does not stop the process (the first request to the provider tries again).
  app.oidc.provider().catch((err) => {
    if (isDatabaseUnavailable(err)) app.log.warn({ err }, 'OpenID provider not built yet (database unavailable); the next request to it tries again');
    else app.log.error({ err }, 'OpenID provider could not be built; the next request to it tries again');
  });
  announce(`Tessera is running at ${config.publicUrl.origin} (listening on ${config.host}:${config.port}${config.tls ? ' with TLS' : ''}, database: ${config.database.kind}).`);
  finishingStart = (async () => {
    const setupLink = await ensureOperatorSetup(ctx);
    if (setupLink) {
      announce(`\nFirst start: open this one-time link to set up the operator account (valid ${config.oneTimeLinkMs / 3_600_000} h):\n  ${setupLink}\n`);
    }
    if (argv.includes('--demo')) await seedDemo(ctx);
  })();
  await finishingStart;
}

main(process.argv.slice(2)).catch((err) => {
  // The port taken (by the probe, or by another process between the probe and listen): one line, no stack.
  const line = portUnavailableLine(err);
  if (line) {
    console.error(line);
    process.exit(PortUnavailable.EXIT_CODE);
  }
  console.error('Tessera failed to start:', err);
  process.exit(1);
});
