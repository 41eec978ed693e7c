import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { request, startServerProcess } from '../support/server-process.js';
import { createTestPki, type TestPki } from '../support/tls.js';

/**
 * Tessera serving HTTPS itself (TESSERA_TLS_CERT and TESSERA_TLS_KEY): the configuration checks,
 * and the real server process answering over TLS with a certificate of a private CA.
 */

let pki: TestPki;
let scratch: string;

beforeAll(async () => {
  pki = await createTestPki();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-tls-cases-'));
});
afterAll(() => {
  pki?.remove();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, scratch);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('the configuration was accepted');
}

const file = (name: string, text: string) => {
  const f = path.join(scratch, name);
  fs.writeFileSync(f, text, { mode: 0o600 });
  return f;
};

describe('TESSERA_TLS_CERT and TESSERA_TLS_KEY', () => {
  it('read both files; the public URL then defaults to https', () => {
    const c = loadConfig({ TESSERA_TLS_CERT: pki.certFile, TESSERA_TLS_KEY: pki.keyFile, TESSERA_PORT: '8443' }, scratch);
    expect(c.tls).toMatchObject({ certFile: pki.certFile, keyFile: pki.keyFile });
    expect(c.tls!.cert.toString()).toBe(pki.certPem);
    expect(c.publicUrl.origin).toBe('https://localhost:8443');
    expect(loadConfig({}, scratch).tls).toBeNull();
  });

  it('are both or neither, and the message names the one missing', () => {
    expect(refusal({ TESSERA_TLS_CERT: pki.certFile }).variable).toBe('TESSERA_TLS_KEY');
    expect(refusal({ TESSERA_TLS_KEY: pki.keyFile }).variable).toBe('TESSERA_TLS_CERT');
  });

  it('refuse a file that cannot be read, naming the variable and the path', () => {
    const missing = path.join(scratch, 'nowhere.pem');
    const err = refusal({ TESSERA_TLS_CERT: missing, TESSERA_TLS_KEY: pki.keyFile });
    expect(err.variable).toBe('TESSERA_TLS_CERT');
    expect(err.message).toBe(`TESSERA_TLS_CERT: cannot read "${missing}" (ENOENT)`);
    expect(refusal({ TESSERA_TLS_CERT: pki.certFile, TESSERA_TLS_KEY: scratch }).message).toMatch(/^TESSERA_TLS_KEY: cannot read .*\(EISDIR\)$/);
  });

  it('refuse a certificate that is not PEM, an encrypted key, and the key of another certificate', () => {
    expect(refusal({ TESSERA_TLS_CERT: pki.keyFile, TESSERA_TLS_KEY: pki.keyFile }).message).toMatch(/^TESSERA_TLS_CERT: .* is not a PEM certificate/);
    expect(refusal({ TESSERA_TLS_CERT: pki.certFile, TESSERA_TLS_KEY: pki.certFile }).message).toMatch(/^TESSERA_TLS_KEY: .* is not a PEM private key/);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const encrypted = file('encrypted.key', privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string);
    expect(refusal({ TESSERA_TLS_CERT: pki.certFile, TESSERA_TLS_KEY: encrypted }).message).toMatch(/^TESSERA_TLS_KEY: .* is encrypted/);
    const other = file('other.key', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    expect(refusal({ TESSERA_TLS_CERT: pki.certFile, TESSERA_TLS_KEY: other }).message).toMatch(/^TESSERA_TLS_KEY: .* is not the private key of the certificate in TESSERA_TLS_CERT$/);
  });
});

describe('the server process with TLS', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  const dbEnv = () => ({
    TESSERA_DATABASE_URL: database.config.kind === 'postgres' ? database.config.url : `sqlite:${database.config.file}`,
    TESSERA_DATA_DIR: scratch,
    TESSERA_MASTER_KEY: randomBytes(32).toString('base64'),
  });

  it('serves HTTPS with the configured certificate, and no plain HTTP on that port', async () => {
    const server = await startServerProcess({ env: { ...dbEnv(), TESSERA_TLS_CERT: pki.certFile, TESSERA_TLS_KEY: pki.keyFile, TESSERA_LOG_LEVEL: 'warn' }, ca: pki.caPem, readyTimeoutMs: 80_000 });
    try {
      expect(server.url).toMatch(/^https:/);
      const health = await request(server.url, { method: 'GET', url: '/healthz', ca: pki.caPem });
      expect([health.statusCode, health.json()]).toEqual([200, { status: 'ok' }]);
      // https in the public URL: browsers are told to stay on https.
      expect(health.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      // A client that does not trust the private CA is refused by its own TLS check.
      await expect(request(server.url, { method: 'GET', url: '/healthz' })).rejects.toThrow(/certificate/i);
      // Plain HTTP on the TLS port gets no HTTP answer.
      const plain = await new Promise<string>((resolve) => {
        const req = http.get(`http://127.0.0.1:${server.port}/healthz`, (res) => resolve(`answered ${res.statusCode}`));
        req.on('error', (err) => resolve(`failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      });
      expect(plain).toMatch(/^failed:/);
      expect(server.output).toContain(`Tessera is running at https://127.0.0.1:${server.port}`);
    } finally {
      const stopped = await server.stop();
      expect(stopped.code, server.output).toBe(0);
    }
  }, 90_000);

  it('does not start when a file is missing, and says which variable', async () => {
    const missing = path.join(scratch, 'missing.pem');
    const start = startServerProcess({ env: { ...dbEnv(), TESSERA_TLS_CERT: missing, TESSERA_TLS_KEY: pki.keyFile }, ca: pki.caPem });
    await expect(start).rejects.toThrow(`Tessera exited during start (2):\nTessera cannot start: configuration error in TESSERA_TLS_CERT: cannot read "${missing}" (ENOENT)`);
  }, 90_000);
});
