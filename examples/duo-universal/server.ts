import fs from 'node:fs';
import { createDuoSample, duoSampleConfigFromEnv, DuoSampleConfigError } from './app.js';

/** `npm run duo-sample`: the Duo Web SDK sample, configured from the environment (README.md here). */
try {
  const config = duoSampleConfigFromEnv(process.env, (path) => fs.readFileSync(path, 'utf8'));
  const { server } = createDuoSample(config);
  server.listen(config.port, 'localhost', () => {
    console.log(`Duo Web SDK sample at http://localhost:${config.port}/, Universal Prompt at https://${config.apiHost} as ${config.clientId}.`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (err) {
  if (!(err instanceof DuoSampleConfigError)) throw err;
  console.error(`The Duo sample cannot start: ${err.message}`);
  process.exit(2);
}
