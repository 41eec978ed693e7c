import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';
import { parseKey } from '../config.js';
import { SecretBox, keyIdOf } from './secret-box.js';

export const KEY_FILE = 'master.key';

/**
 * The master key: TESSERA_MASTER_KEY, or the key file in the data directory, created on
 * first start with mode 0600 (exclusive create: two processes starting together keep one).
 */
export function loadSecretBox(config: Config): SecretBox {
  const retired = config.retiredMasterKeys.map((key) => ({ id: keyIdOf(key), key }));
  if (config.masterKey) return new SecretBox({ id: keyIdOf(config.masterKey), key: config.masterKey }, retired);
  const file = path.join(config.dataDir, KEY_FILE);
  fs.mkdirSync(config.dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = parseKey(file, fs.readFileSync(file, 'utf8'));
  return new SecretBox({ id: keyIdOf(key), key }, retired);
}
