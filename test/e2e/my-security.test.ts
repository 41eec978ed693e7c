import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { UserView } from '../../src/directory/user.view.js';
import { Agent, activateSubscription, addUser, enableMfaForStaff, firmWithAdmin, PASSWORD, totpCode, type TestFirm } from '../support/harness.js';
import { startBrowserRig, type BrowserRig, signIn, logOut } from './browser.js';
import { api } from '../support/fixtures.js';

/**
 * My security in Chromium (issue 12): the remembered browsers (how many, which, "Forget all
 * remembered browsers"), the confirmation of "Remove" that offers to forget them too, and
 * "Add a passkey" offered only where the firm allows passkeys. Found by roles and labels.
 */
describe('My security in Chromium: remembered browsers and passkeys', () => {
  let rig: BrowserRig;
  let page: Page;
  let firm: TestFirm;
  let rita: UserView;
  let secret = '';
  const STEP_MS = 30_000;

  beforeAll(async () => {
    rig = await startBrowserRig();
    page = rig.page;
    const h = rig.h;
    firm = await firmWithAdmin(h, 'keepsafe');
    await activateSubscription(h, firm.firm.id, 5);
    // The policy before the enablement: Sam, a case manager, would be asked to enrol after it (issue 16 item 4).
    const policy = await firm.admin.raw('PUT', api('/admin/mfa/policy'), { body: { lockoutThreshold: 10, lockoutMinutes: 15, rememberDays: 7 } });
    expect(policy.statusCode, policy.body).toBe(200);
    await enableMfaForStaff(h, firm.firm.id);
    rita = await addUser(h, firm.firm.id, { name: 'Rita Remember', email: 'rita@keepsafe.example', kind: 'case_manager' });

    // Rita enrols two authenticator apps through the API (the enrollment screens have their own tests).
    const agent = new Agent(h.app);
    expect((await agent.post(api('/login'), { email: rita.email, password: PASSWORD })).json().next).toBe('enroll');
    for (const label of ['Work phone', 'Spare phone']) {
      const begun = (await agent.post(api('/mfa/enrollment/totp'), {})).json() as { authenticatorId: string; secret: string };
      h.clock.advance(STEP_MS);
      const confirmed = await agent.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code: totpCode(h, begun.secret) });
      expect(confirmed.statusCode, confirmed.body).toBe(200);
      await h.ctx.db.updateTable('authenticators').set({ label }).where('id', '=', begun.authenticatorId).execute();
      if (label === 'Work phone') secret = begun.secret;
    }
  });
  afterAll(() => rig?.close());

  /** The second factor with the work phone's passcode, remembering this browser. */
  const passcodeAndRemember = async () => {
    await page.getByRole('heading', { name: 'Second factor', level: 1 }).waitFor();
    rig.h.clock.advance(STEP_MS);
    await page.getByRole('textbox', { name: 'Passcode' }).fill(totpCode(rig.h, secret));
    await page.getByRole('checkbox', { name: 'Remember this browser for 7 days' }).check();
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Welcome, Rita Remember' }).waitFor();
  };

  const remembered = () => page.getByRole('region', { name: 'Remembered browsers' });
  const rememberedRows = async () => rig.h.ctx.db.selectFrom('remembered_browsers').select('id').where('user_id', '=', rita.id).execute();

  const openMySecurity = async () => {
    await page.goto(`${rig.baseUrl}/me/security`);
    await page.getByRole('heading', { name: 'My security', level: 1 }).waitFor();
  };

  it('lists the remembered browser, and removing an authenticator offers to forget it (ticked): removed, and forgotten', async () => {
    await signIn(rig, page, rita.email);
    await passcodeAndRemember();
    expect(await rememberedRows()).toHaveLength(1);

    await openMySecurity();
    await remembered().getByText('1 remembered browser', { exact: true }).waitFor();
    expect(await remembered().getByRole('table', { name: 'Remembered browsers' }).getByRole('row').count()).toBe(2); // header + one

    await page.getByRole('table', { name: 'My authenticators' }).getByRole('button', { name: 'Remove Spare phone' }).click();
    const dialog = page.getByRole('dialog', { name: 'Remove Spare phone?' });
    await dialog.waitFor();
    const forget = dialog.getByRole('checkbox', { name: 'Also forget remembered browsers' });
    expect(await forget.isChecked()).toBe(true);
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('status').filter({ hasText: 'Spare phone was removed, and your remembered browsers were forgotten.' }).waitFor();
    await remembered().getByText('0 remembered browsers', { exact: true }).waitFor();
    expect(await remembered().getByRole('button', { name: 'Forget all remembered browsers' }).isDisabled()).toBe(true);
    expect(await page.getByRole('table', { name: 'My authenticators' }).getByRole('button', { name: 'Remove Spare phone' }).count()).toBe(0);
    expect(await rememberedRows()).toHaveLength(0);

    // Forgotten: this browser is asked for the second factor again.
    await logOut(page);
    await signIn(rig, page, rita.email);
    await passcodeAndRemember();
  });

  it('"Forget all remembered browsers": the next sign-in on this browser asks for the second factor', async () => {
    await openMySecurity();
    await remembered().getByText('1 remembered browser', { exact: true }).waitFor();
    await remembered().getByRole('button', { name: 'Forget all remembered browsers' }).click();
    await page.getByRole('status').filter({ hasText: '1 remembered browser forgotten.' }).waitFor();
    await remembered().getByText('0 remembered browsers', { exact: true }).waitFor();
    expect(await rememberedRows()).toHaveLength(0);

    await logOut(page);
    await signIn(rig, page, rita.email);
    await page.getByRole('heading', { name: 'Second factor', level: 1 }).waitFor();
  });

  it('the confirmation of the last authenticator can be cancelled, and offers no checkbox (a reset forgets the browsers anyway)', async () => {
    rig.h.clock.advance(STEP_MS);
    await page.getByRole('textbox', { name: 'Passcode' }).fill(totpCode(rig.h, secret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Welcome, Rita Remember' }).waitFor();
    await openMySecurity();
    await page.getByRole('table', { name: 'My authenticators' }).getByRole('button', { name: 'Remove Work phone' }).click();
    const dialog = page.getByRole('dialog', { name: 'Remove Work phone?' });
    await dialog.getByText('This is your only authenticator.', { exact: false }).waitFor();
    expect(await dialog.getByRole('checkbox').count()).toBe(0);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await rig.h.ctx.db.selectFrom('authenticators').select('id').where('user_id', '=', rita.id).execute()).toHaveLength(1);
  });

  it('offers "Add a passkey" only where the firm allows passkey sign-in', async () => {
    expect(await page.getByRole('button', { name: 'Add security key' }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Add a passkey' }).count()).toBe(0);
    await rig.h.ctx.db.updateTable('mfa_settings').set({ passkeys_enabled: 1 }).where('firm_id', '=', firm.firm.id).execute();
    await openMySecurity();
    await page.getByRole('button', { name: 'Add a passkey' }).waitFor();
  });
});
