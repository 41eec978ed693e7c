import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_OPTIONS, ConfigError, loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({}, '/srv/tessera');
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(3000);
    expect(c.publicUrl.origin).toBe('http://localhost:3000');
    expect(c.dataDir).toBe('/srv/tessera/data');
    expect(c.database).toEqual({ kind: 'sqlite', file: '/srv/tessera/data/tessera.db' });
    expect(c.smtpUrl).toBeNull();
    expect(c.mailFrom).toBe('Tessera <tessera@localhost>');
    expect(c.sessionIdleMs).toBe(30 * 60_000);
    expect(c.sessionAbsoluteMs).toBe(12 * 3_600_000);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads every option', () => {
    const c = loadConfig({
      TESSERA_HOST: '0.0.0.0',
      TESSERA_PORT: '8443',
      TESSERA_PUBLIC_URL: 'https://mfa.firm.example',
      TESSERA_DATABASE_URL: 'postgres://u:p@db:5432/tessera',
      TESSERA_DB_POOL_SIZE: '25',
      TESSERA_SMTP_URL: 'smtps://u:p@mail.example:465',
      TESSERA_MAIL_FROM: 'MFA <mfa@firm.example>',
      TESSERA_SESSION_IDLE_MINUTES: '15',
      TESSERA_SESSION_ABSOLUTE_HOURS: '8',
      TESSERA_ONE_TIME_LINK_HOURS: '48',
      TESSERA_TRUST_PROXY: '10.0.0.0/8, 192.0.2.7,fd00::/8',
      TESSERA_LOG_LEVEL: 'warn',
    });
    expect(c.port).toBe(8443);
    expect(c.publicUrl.protocol).toBe('https:');
    expect(c.database).toEqual({ kind: 'postgres', url: 'postgres://u:p@db:5432/tessera', poolSize: 25 });
    expect(c.smtpUrl).toBe('smtps://u:p@mail.example:465');
    expect(c.sessionIdleMs).toBe(15 * 60_000);
    expect(c.sessionAbsoluteMs).toBe(8 * 3_600_000);
    expect(c.oneTimeLinkMs).toBe(48 * 3_600_000);
    expect(c.trustProxy).toEqual(['10.0.0.0/8', '192.0.2.7', 'fd00::/8']);
    expect(c.logLevel).toBe('warn');
  });

  it.each([
    ['TESSERA_PORT', 'eighty'],
    ['TESSERA_PORT', '70000'],
    ['TESSERA_PUBLIC_URL', 'not a url'],
    ['TESSERA_PUBLIC_URL', 'ftp://x.example'],
    ['TESSERA_PUBLIC_URL', 'https://x.example/portal'],
    ['TESSERA_DATABASE_URL', 'mysql://db/x'],
    ['TESSERA_DATABASE_URL', 'sqlite:'],
    ['TESSERA_SMTP_URL', 'http://mail.example'],
    ['TESSERA_MAIL_FROM', 'nobody'],
    ['TESSERA_SESSION_IDLE_MINUTES', '0'],
    ['TESSERA_SESSION_ABSOLUTE_HOURS', '-1'],
    ['TESSERA_TRUST_PROXY', 'maybe'],
    ['TESSERA_TRUST_PROXY', 'true'],
    ['TESSERA_TRUST_PROXY', 'yes'],
    ['TESSERA_TRUST_PROXY', '11'],
    ['TESSERA_TRUST_PROXY', '10.0.0.0/33'],
    ['TESSERA_TRUST_PROXY', '10.0.0.0/8/1'],
    ['TESSERA_TRUST_PROXY', '10.0.0.300'],
    ['TESSERA_TRUST_PROXY', '10.0.0.1,*'],
    ['TESSERA_LOG_LEVEL', 'loud'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    let err: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe(name);
    expect((err as Error).message).toContain(name);
  });

  it('reads TESSERA_TRUST_PROXY as off, a hop count or a list of proxies, never as "trust everyone"', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TESSERA_TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TESSERA_TRUST_PROXY: '0' }).trustProxy).toBe(false);
    expect(loadConfig({ TESSERA_TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ TESSERA_TRUST_PROXY: ' 2 ' }).trustProxy).toBe(2);
    expect(loadConfig({ TESSERA_TRUST_PROXY: 'loopback,172.16.0.0/12' }).trustProxy).toEqual(['loopback', '172.16.0.0/12']);
    expect(() => loadConfig({ TESSERA_TRUST_PROXY: 'TRUE' })).toThrow(/addresses or CIDRs of your proxies .* how many proxies/);
  });

  it('lists every option in the README table', () => {
    const readme = fs.readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');
    for (const [name] of CONFIG_OPTIONS) expect(readme).toContain(`\`${name}\``);
  });
});
