import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { SecretBox } from './crypto/secret-box.js';
import type { Db } from './db/database.js';
import type { MailService } from './notify/mail.service.js';

/** What every service needs: built once in server.ts (or by a test) and handed down. */
export interface AppContext {
  config: Config;
  db: Db;
  clock: Clock;
  mail: MailService;
  /** Encrypts factor secrets at rest, and keys the hashes of backup codes. */
  secrets: SecretBox;
  /** Where the console lines of the embedded mode go (setup links, kept mails). */
  announce: (line: string) => void;
}
