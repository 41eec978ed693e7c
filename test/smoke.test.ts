import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, firmWithAdmin, operatorAgent, startHarness, type Harness } from './support/harness.js';

describe('smoke', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it('health', async () => {
    const res = await new Agent(h.app).get('/api/v1/health');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('firm admin logs in and lists users', async () => {
    const f = await firmWithAdmin(h);
    const res = await f.admin.get('/api/v1/admin/users');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().items[0].email).toBe(f.superuser.email);
  });

  it('operator lists firms', async () => {
    const op = await operatorAgent(h);
    const res = await op.get('/api/v1/operator/firms');
    expect(res.statusCode, res.body).toBe(200);
  });
});
