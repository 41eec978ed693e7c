import { portalConfigFromEnv, PortalConfigError } from './config.js';
import { createPortal } from './portal.js';

/** `npm run portal`: the example portal, configured from the environment (see config.ts and README "Connect your portal"). */
try {
  const config = portalConfigFromEnv();
  const { server } = createPortal(config);
  server.listen(config.port, config.host, () => {
    console.log(`Case Portal (example) at ${new URL('/', config.redirectUri).href}, signing in through ${config.issuer.href} as client ${config.clientId}.`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (err) {
  if (!(err instanceof PortalConfigError)) throw err;
  console.error(`Case Portal cannot start: ${err.message}`);
  process.exit(2);
}
