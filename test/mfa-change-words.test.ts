import { describe, expect, it } from 'vitest';
import { previewSentences, type ChangePreview as MfaChangePreview } from '../web/src/pages/mfa-change-words.js';

/** The MFA change dialog's sentences (issue 16 item 3): worded for one user as for several. */
const none = { caseManagers: 0, vendorCaseManagers: 0, corpUsers: 0, foreignNationals: 0 };
const preview = (o: Partial<MfaChangePreview>): MfaChangePreview =>
  ({ added: { total: 0, byKind: none }, removed: { total: 0, byKind: none }, enrolledRemoved: 0, mailed: 0, live: true, includesYou: false, ...o }) as MfaChangePreview;

describe('the MFA change dialog', () => {
  it('one user added and mailed: no "One of them"', () => {
    const lines = previewSentences(preview({ added: { total: 1, byKind: { ...none, caseManagers: 1 } }, mailed: 1 }));
    expect(lines).toEqual(['1 user will have to use MFA: 1 case manager.', 'They have not enrolled yet and will be mailed an invitation to enrol.']);
  });

  it('several added: names the kinds mailed, all of them or some', () => {
    expect(previewSentences(preview({ added: { total: 2, byKind: { ...none, caseManagers: 2 } }, mailed: 1 }))[1]).toBe(
      'One of them, a case manager who has not enrolled, will be mailed an invitation to enrol.',
    );
    expect(previewSentences(preview({ added: { total: 3, byKind: { ...none, vendorCaseManagers: 3 } }, mailed: 3 }))[1]).toBe(
      'None of them has enrolled yet: all 3 will be mailed an invitation to enrol.',
    );
    expect(previewSentences(preview({ added: { total: 5, byKind: { ...none, caseManagers: 2, vendorCaseManagers: 3 } }, mailed: 2 }))[1]).toBe(
      '2 of them, the case managers and vendor case managers who have not enrolled, will be mailed an invitation to enrol.',
    );
  });

  it('one user removed who is enrolled: "They are enrolled", not "One of them"', () => {
    expect(previewSentences(preview({ removed: { total: 1, byKind: { ...none, corpUsers: 1 } }, enrolledRemoved: 1 }))).toEqual([
      '1 user will no longer be asked for a second factor: 1 corp user. They are enrolled and keep their authenticators and licence.',
    ]);
    expect(previewSentences(preview({ removed: { total: 3, byKind: { ...none, corpUsers: 3 } }, enrolledRemoved: 1 }))[0]).toContain(
      'One of them is enrolled and keeps their authenticators and licence.',
    );
  });
});
