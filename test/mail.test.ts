import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailService } from '../src/notify/mail.service.js';
import { templates } from '../src/notify/templates.js';
import { firmWithAdmin, operatorAgent, startHarness, type Harness } from './support/harness.js';
import { startSmtpServer } from './support/smtp.js';

describe('mail over real SMTP', () => {
  let h: Harness;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    h = await startHarness({ env: { TESSERA_SMTP_URL: smtp.url, TESSERA_MAIL_FROM: 'Tessera <mfa@firm.example>' } });
  });
  afterAll(async () => {
    await h.close();
    await smtp.close();
  });

  it('sends the set-password mail of a new user, in text and HTML, and marks it sent', async () => {
    const f = await firmWithAdmin(h, 'mail-firm');
    const res = await f.admin.post('/api/v1/admin/users', { name: 'Mia <Mail>', email: 'mia@mail-firm.example', kind: 'case_manager' });
    expect(res.statusCode, res.body).toBe(201);
    expect(await h.ctx.mail.deliverDue()).toBeGreaterThanOrEqual(1);
    const mail = smtp.received.find((m) => m.to.includes('mia@mail-firm.example'))!;
    expect(mail.from).toBe('mfa@firm.example');
    expect(mail.raw).toContain('Subject: Set your password for Firm mail-firm');
    expect(mail.raw).toContain('text/plain');
    expect(mail.raw).toContain('text/html');
    expect(mail.raw).toContain('Mia &lt;Mail&gt;'); // escaped in the HTML part
    const row = await h.ctx.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', 'mia@mail-firm.example').executeTakeFirstOrThrow();
    expect(row.status).toBe('sent');
    expect(row.sent_at).not.toBeNull();
  });

  it('shows operators only the envelope of mails that SMTP delivers: links belong to their recipients', async () => {
    const op = await operatorAgent(h);
    const items = (await op.get('/api/v1/operator/outbox?pageSize=100')).json().items as { to: string; link: string | null; textBody: string }[];
    const mia = items.find((m) => m.to === 'mia@mail-firm.example')!;
    expect(mia.link).toBeNull();
    expect(mia.textBody).toBe('');
  });

  it('keeps a mail queued while SMTP is down and sends it once it is back', async () => {
    const down = createMailService({ db: h.ctx.db, clock: h.clock, smtpUrl: 'smtp://127.0.0.1:1', from: 'x@firm.example', announce: () => {} });
    await down.enqueue(h.ctx.db, { firmId: null, to: 'later@firm.example', ...templates.operatorSetup({ url: 'http://localhost/x', expiresHours: 1 }) });
    await down.deliverDue();
    const failed = await h.ctx.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', 'later@firm.example').executeTakeFirstOrThrow();
    expect(failed.status).toBe('pending');
    expect(failed.attempts).toBe(1);
    expect(failed.last_error).toBeTruthy();
    expect(failed.next_attempt_at).toBeGreaterThan(h.clock.now());
    await down.stop();

    h.clock.advance(5 * 60_000);
    await h.ctx.mail.deliverDue();
    expect(smtp.received.some((m) => m.to.includes('later@firm.example'))).toBe(true);
    const sent = await h.ctx.db.selectFrom('mail_outbox').select('status').where('id', '=', failed.id).executeTakeFirstOrThrow();
    expect(sent.status).toBe('sent');
  });

  it('hands each mail to SMTP once when several processes deliver at the same time', async () => {
    const before = smtp.received.length;
    for (let i = 0; i < 30; i++) {
      await h.ctx.mail.enqueue(h.ctx.db, { firmId: null, to: `bulk${i}@firm.example`, ...templates.operatorSetup({ url: 'http://localhost/x', expiresHours: 1 }) });
    }
    const nodes = [0, 1, 2].map(() => createMailService({ db: h.ctx.db, clock: h.clock, smtpUrl: smtp.url, from: 'x@firm.example', announce: () => {} }));
    const handled = await Promise.all(nodes.map((n) => n.deliverDue()));
    await Promise.all(nodes.map((n) => n.stop()));
    expect(handled.reduce((a, b) => a + b, 0)).toBe(30);
    const bulk = smtp.received.slice(before).flatMap((m) => m.to).filter((t) => t.startsWith('bulk'));
    expect(bulk).toHaveLength(30);
    expect(new Set(bulk).size).toBe(30);
  });
});

describe('embedded mail mode (no SMTP)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it('keeps mails in the outbox, prints a summary line with the link, and shows them to operators', async () => {
    const f = await firmWithAdmin(h, 'outbox-firm');
    await h.ctx.mail.deliverDue();
    const row = await h.ctx.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', f.superuser.email).executeTakeFirstOrThrow();
    expect(row.status).toBe('kept');
    const line = h.announced.find((l) => l.includes(f.superuser.email))!;
    expect(line).toContain('Set your password');
    expect(line).toContain(row.link!);

    const op = await operatorAgent(h);
    const outbox = (await op.get('/api/v1/operator/outbox')).json();
    expect(outbox.items.find((m: { to: string }) => m.to === f.superuser.email)).toMatchObject({ status: 'kept', link: row.link });
  });
});
