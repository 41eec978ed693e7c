import { escapeHtml } from '../http/html.js';

/**
 * Every mail Tessera sends, in one place: plain text and HTML from the same words.
 * Values are escaped for HTML; nothing secret other than the link a mail exists to carry.
 */
export interface MailContent {
  subject: string;
  text: string;
  html: string;
  link?: string;
}

/** Paragraphs of text, plus an optional call-to-action link, rendered both ways. */
function compose(subject: string, paragraphs: string[], action?: { label: string; url: string }): MailContent {
  const text = [...paragraphs, ...(action ? [`${action.label}: ${action.url}`] : []), '-- Tessera'].join('\n\n');
  const html = [
    '<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#1d2433">',
    ...paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
    action
      ? `<p><a href="${escapeHtml(action.url)}" style="background:#2456d3;color:#fff;padding:8px 16px;border-radius:6px;text-decoration:none">${escapeHtml(action.label)}</a></p>`
      : '',
    '<p style="color:#666">-- Tessera</p></body></html>',
  ].join('\n');
  return { subject, text, html, ...(action ? { link: action.url } : {}) };
}

export const templates = {
  setPassword(p: { name: string; firmName: string; url: string; expiresHours: number }): MailContent {
    return compose(
      `Set your password for ${p.firmName}`,
      [
        `Hello ${p.name},`,
        `An account has been created for you at ${p.firmName}. Choose your password with the link below; it works once and expires in ${p.expiresHours} hours.`,
        'If you did not expect this mail, you can ignore it.',
      ],
      { label: 'Set your password', url: p.url },
    );
  },
  operatorSetup(p: { url: string; expiresHours: number }): MailContent {
    return compose(
      'Set up your Tessera operator account',
      [`Choose the operator password with the link below; it works once and expires in ${p.expiresHours} hours.`],
      { label: 'Set up Tessera', url: p.url },
    );
  },
  subscriptionActivated(p: { firmName: string; planName: string; licenceCount: number; url: string }): MailContent {
    return compose(
      `MFA is active for ${p.firmName}`,
      [
        `The multi-factor authentication subscription of ${p.firmName} is now active: plan ${p.planName}, ${p.licenceCount} licences.`,
        'Open the MFA page to choose who must use a second factor.',
      ],
      { label: 'Open the MFA page', url: p.url },
    );
  },
  mfaEnabled(p: { name: string; firmName: string; url: string }): MailContent {
    return compose(
      `Multi-factor authentication is now on for your ${p.firmName} account`,
      [
        `Hello ${p.name},`,
        `${p.firmName} has turned on multi-factor authentication for your account. The next time you log in you will be asked to enrol a second factor: the Tessera Authenticator app on your phone, any authenticator app, or a security key. It takes a minute, once.`,
      ],
      { label: 'Log in and enrol', url: p.url },
    );
  },
  usageThreshold(p: { firmName: string; percent: 80 | 100; enrolled: number; licenceCount: number; url: string }): MailContent {
    const full = p.percent === 100;
    return compose(
      `MFA licence usage of ${p.firmName} has reached ${p.percent}%`,
      [
        `${p.enrolled} of ${p.licenceCount} MFA licences of ${p.firmName} are in use.`,
        full
          ? 'No licence is free: users who are MFA-enabled but not enrolled cannot enrol and log in with their password alone until you add licences.'
          : 'When all licences are in use, users who are not enrolled yet cannot enrol. Consider asking for more licences.',
      ],
      { label: 'Open MFA usage', url: p.url },
    );
  },
  /** My security (issue 4.6): every change to a user's second factors is mailed to them. */
  securityChanged(p: { name: string; firmName: string; change: string; at: number; ip: string | null; url: string }): MailContent {
    const when = new Date(p.at).toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
    return compose(
      'Your Tessera security settings changed',
      [
        `Hello ${p.name},`,
        `The multi-factor authentication settings of your ${p.firmName} account changed: ${p.change}.`,
        `When: ${when}. From: ${p.ip ?? 'an unknown address'}.`,
        'If this was not you, tell your administrator at once: someone else may be using your account.',
      ],
      { label: 'Review My security', url: p.url },
    );
  },
  mfaLocked(p: { firmName: string; userName: string; userEmail: string; failures: number; minutes: number; url: string }): MailContent {
    return compose(
      `Second factor locked for ${p.userName} at ${p.firmName}`,
      [
        `The second factor of ${p.userName} (${p.userEmail}) at ${p.firmName} was locked for ${p.minutes} minutes after ${p.failures} failed attempts in a row.`,
        'If this was not them, someone may know their password: consider resetting it. You can unlock the second factor from the user\'s page.',
      ],
      { label: 'Open the user', url: p.url },
    );
  },
  /** "It seemed fraudulent" on a push (issue 5.6, reference 1.4.1): the login may be someone else's, with the user's password. */
  pushFraud(p: { firmName: string; userName: string; userEmail: string; at: number; ip: string | null; browser: string; os: string; pauseMinutes: number; url: string }): MailContent {
    const when = new Date(p.at).toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
    return compose(
      `Fraudulent login attempt reported by ${p.userName} at ${p.firmName}`,
      [
        `${p.userName} (${p.userEmail}) at ${p.firmName} denied a push login request and reported it as fraudulent.`,
        `When: ${when}. From: ${p.ip ?? 'an unknown address'}, ${p.browser} on ${p.os}.`,
        `Someone else may know their password. Push requests to this user are paused for ${p.pauseMinutes} minutes; passcodes and security keys still work. Consider resetting their password.`,
      ],
      { label: 'Open the user', url: p.url },
    );
  },
  /** A security key's signature counter went backwards (issue 6.3): two copies of the key may exist. */
  securityKeyCloned(p: { firmName: string; userName: string; userEmail: string; keyName: string; at: number; ip: string | null; url: string }): MailContent {
    const when = new Date(p.at).toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
    return compose(
      `Possibly cloned security key of ${p.userName} at ${p.firmName}`,
      [
        `A login with the security key "${p.keyName}" of ${p.userName} (${p.userEmail}) at ${p.firmName} was refused: the key's signature counter went backwards, which happens when a copy of the key is in use.`,
        `When: ${when}. From: ${p.ip ?? 'an unknown address'}.`,
        "If the user did not expect this, reset their MFA enrollment from the user's page and ask them to register their keys again.",
      ],
      { label: 'Open the user', url: p.url },
    );
  },
  enrollmentReset(p: { name: string; firmName: string; reason: string; url: string }): MailContent {
    return compose(
      `Your MFA enrollment at ${p.firmName} was reset`,
      [
        `Hello ${p.name},`,
        `Your multi-factor authentication enrollment at ${p.firmName} was reset (${p.reason}). Your authenticators and backup codes no longer work.`,
        'If MFA applies to you, you will be asked to enrol again at your next login. If you did not expect this, tell your administrator.',
      ],
      { label: 'Log in', url: p.url },
    );
  },
};
