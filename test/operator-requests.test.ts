import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firmWithAdmin, operatorAgent, activateSubscription, startHarness, type Agent, type Harness } from './support/harness.js';
import { startSmtpServer, type ReceivedMail } from './support/smtp.js';

/**
 * The accounts team hears of requests (issue 16.5): a firm's request to subscribe, and its
 * request for more licences, are mailed to every active operator (read back from a real SMTP
 * server) and counted for the console.
 */

let h: Harness;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let op: Agent;
let opEmail: string;

beforeAll(async () => {
  smtp = await startSmtpServer();
  h = await startHarness({ env: { TESSERA_SMTP_URL: smtp.url, TESSERA_PUBLIC_URL: 'https://mfa.firm.example' } });
  opEmail = `accounts-${Date.now()}@platform.example`;
  op = await operatorAgent(h, opEmail);
});
afterAll(async () => {
  await h.close();
  await smtp.close();
});

const readable = (m: ReceivedMail) => m.raw.replace(/\r?\n[ \t]+/g, ' ').replace(/=\r?\n/g, '');
const toOperator = (subject: string) => smtp.received.filter((m) => m.to.includes(opEmail) && readable(m).includes(`Subject: ${subject}`));

async function pending(): Promise<{ subscriptions: number; licences: number }> {
  const res = await op.get('/api/v1/operator/subscriptions/pending');
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

describe('a request to subscribe', () => {
  it('mails the operators once, with a link to the console, and is counted until answered', async () => {
    const before = await pending();
    const f = await firmWithAdmin(h);
    const res = await f.admin.post('/api/v1/admin/subscriptions/mfa', {});
    expect(res.statusCode, res.body).toBe(201);
    // A double submit is refused and mails nobody again.
    expect((await f.admin.post('/api/v1/admin/subscriptions/mfa', {})).statusCode).toBe(409);
    await h.ctx.mail.deliverDue();
    const mails = toOperator(`${f.firm.name} asks to subscribe to MFA`);
    expect(mails).toHaveLength(1);
    expect(readable(mails[0]!)).toContain('https://mfa.firm.example/operator/subscriptions');
    expect(await pending()).toEqual({ ...before, subscriptions: before.subscriptions + 1 });

    const declined = await op.post(`/api/v1/operator/subscriptions/${f.firm.id}/decline`, {});
    expect(declined.statusCode, declined.body).toBe(204);
    expect(await pending()).toEqual(before);
  });
});

describe('a request for more licences', () => {
  it('mails the operators with the numbers, and is counted until activated with the new count', async () => {
    const f = await firmWithAdmin(h);
    await activateSubscription(h, f.firm.id, 10);
    const before = await pending();
    const res = await f.admin.post('/api/v1/admin/mfa/licence-request', { licences: 25 });
    expect(res.statusCode, res.body).toBe(200);
    await h.ctx.mail.deliverDue();
    const mails = toOperator(`${f.firm.name} asks for 25 MFA licences`);
    expect(mails).toHaveLength(1);
    expect(readable(mails[0]!)).toContain('it has 10 now');
    expect(await pending()).toEqual({ ...before, licences: before.licences + 1 });

    const activated = await op.post(`/api/v1/operator/subscriptions/${f.firm.id}/activate`, { planName: 'Bigger', licenceCount: 25 });
    expect(activated.statusCode, activated.body).toBe(200);
    expect(await pending()).toEqual(before);
  });

  it('a refused request (not more than now) mails nobody', async () => {
    const f = await firmWithAdmin(h);
    await activateSubscription(h, f.firm.id, 10);
    const res = await f.admin.post('/api/v1/admin/mfa/licence-request', { licences: 10 });
    expect(res.statusCode).toBe(400);
    await h.ctx.mail.deliverDue();
    expect(toOperator(`${f.firm.name} asks for`)).toHaveLength(0);
  });
});

describe('the count', () => {
  it('is for operators only', async () => {
    const f = await firmWithAdmin(h);
    expect((await f.admin.get('/api/v1/operator/subscriptions/pending')).statusCode).toBe(403);
  });
});
