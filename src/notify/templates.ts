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

/** A time as mails show it: "2026-01-01 09:30 UTC". */
const utc = (at: number) => new Date(at).toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');

/** The end of every notice of a change to one's own account: when, from where, and what to do if it was not you. */
const notYou = (at: number, ip: string | null) => [
  `When: ${utc(at)}. From: ${ip ?? 'an unknown address'}.`,
  'If this was not you, tell your administrator at once: someone else may be using your account.',
];

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
  /** `mfa`: multi-factor authentication already applies to the new account (A.2.5), said here rather than in a second mail. */
  setPassword(p: { name: string; firmName: string; url: string; expiresHours: number; mfa?: boolean }): MailContent {
    return compose(
      `Set your password for ${p.firmName}`,
      [
        `Hello ${p.name},`,
        `An account has been created for you at ${p.firmName}. Choose your password with the link below; it works once and expires in ${p.expiresHours} hours.`,
        ...(p.mfa
          ? [
              `${p.firmName} uses multi-factor authentication: after choosing your password you log in and are asked to enrol a second factor (the Tessera Authenticator app on your phone, any authenticator app, or a security key). It takes a minute, once.`,
            ]
          : []),
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
  /** To the operators (the accounts team): a firm asks to subscribe (A.1). */
  subscriptionRequested(p: { firmName: string; firmSlug: string; again: boolean; url: string }): MailContent {
    return compose(
      `${p.firmName} asks to subscribe to MFA`,
      [
        `${p.firmName} (${p.firmSlug}) has ${p.again ? 'asked to subscribe again, after a cancellation' : 'asked to subscribe'} to multi-factor authentication.`,
        'Activate it with a plan name and a licence count, or decline it, under Subscriptions in the operator console.',
      ],
      { label: 'Open Subscriptions', url: p.url },
    );
  },
  /** To the operators: a firm asks for more licences (A.1). */
  licencesRequested(p: { firmName: string; firmSlug: string; licences: number; licenceCount: number; url: string }): MailContent {
    return compose(
      `${p.firmName} asks for ${p.licences} MFA licences`,
      [
        `${p.firmName} (${p.firmSlug}) asks for ${p.licences} MFA licences in total; it has ${p.licenceCount} now.`,
        'Approve it by activating with the new count, or decline it, under Subscriptions in the operator console.',
      ],
      { label: 'Open Subscriptions', url: p.url },
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
  /** A.2.5 for someone who has not set a password yet: that is their first step, so the mail is the set-password mail, told why. */
  mfaEnabledSetPassword(p: { name: string; firmName: string; url: string; expiresHours: number }): MailContent {
    return compose(
      `Multi-factor authentication is now on for your ${p.firmName} account`,
      [
        `Hello ${p.name},`,
        `${p.firmName} has turned on multi-factor authentication for your account, which has no password yet. Choose your password with the link below; it works once, expires in ${p.expiresHours} hours and replaces any link you were sent before.`,
        'You then log in and are asked to enrol a second factor: the Tessera Authenticator app on your phone, any authenticator app, or a security key. It takes a minute, once.',
        'If you did not expect this mail, you can ignore it.',
      ],
      { label: 'Set your password', url: p.url },
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
    return compose(
      'Your Tessera security settings changed',
      [`Hello ${p.name},`, `The multi-factor authentication settings of your ${p.firmName} account changed: ${p.change}.`, ...notYou(p.at, p.ip)],
      { label: 'Review My security', url: p.url },
    );
  },
  /** A new authenticator, at enrollment or from My security (issue 12, item 3): a factor someone else added is how an account is kept. */
  authenticatorAdded(p: { name: string; firmName: string; authenticator: string; at: number; ip: string | null; url: string }): MailContent {
    return compose(
      'A new authenticator was added to your Tessera account',
      [`Hello ${p.name},`, `A new authenticator was added to your ${p.firmName} account: ${p.authenticator}. It can now be used as your second factor.`, ...notYou(p.at, p.ip)],
      { label: 'Review My security', url: p.url },
    );
  },
  /** The Tessera Authenticator's activation link, asked for from the enrollment screen (issue 16 item 7). */
  activationLink(p: { name: string; firmName: string; url: string; expiresAt: number }): MailContent {
    return compose(
      'Set up the Tessera Authenticator on your phone',
      [
        `Hello ${p.name},`,
        `You asked for this link while setting up multi-factor authentication for ${p.firmName}. Open it on your phone: it opens the Tessera Authenticator and adds your account to it.`,
        `The link works once, until ${utc(p.expiresAt)}, and only while the setup screen you asked from is open. If you did not ask for it, ignore this mail.`,
      ],
      { label: 'Open the Tessera Authenticator', url: p.url },
    );
  },
  /** A password set with a one-time link (issue 12, item 3). */
  passwordSet(p: { name: string; firmName: string; at: number; ip: string | null; url: string }): MailContent {
    return compose(
      'Your Tessera password was set',
      [`Hello ${p.name},`, `The password of your ${p.firmName} account was set with a one-time link, and every session of the account was ended.`, ...notYou(p.at, p.ip)],
      { label: 'Log in', url: p.url },
    );
  },
  /**
   * To the address an account had before (issue 12, item 3): a superuser who points a user's
   * account at their own address must not take it over unseen. It never shows the new address,
   * not even in part: the old address may be a mistyped one that a stranger holds.
   */
  addressChanged(p: { name: string; firmName: string; at: number; noticeDays: number; contact: string }): MailContent {
    return compose(`The email address of your ${p.firmName} account was changed`, [
      `Hello ${p.name},`,
      `The email address of your ${p.firmName} account was changed on ${utc(p.at)}; this address is no longer the account's. Mails about the account now go to the new address, which this mail does not show, and links mailed here before no longer work.`,
      `For ${p.noticeDays} days, notices of security changes to the account (a password set, an MFA reset, a new authenticator) come here too.`,
      `If you did not ask for this change, contact ${p.contact} at once: whoever holds the new address can set the account's password.`,
    ]);
  },
  /**
   * A security notice to the address an account had until a recent change (issue 12, item 3):
   * what happened and when, in the audit log's words; not the details the account's own address
   * gets (IP address, authenticator names, links), since the old address may be a stranger's.
   */
  securityNoticeToPreviousAddress(p: { name: string; firmName: string; change: string; at: number; changedAt: number; noticeDays: number; contact: string }): MailContent {
    return compose(`Security change on the ${p.firmName} account that used this address`, [
      `Hello ${p.name},`,
      `The ${p.firmName} account that used this email address (its address was last changed on ${utc(p.changedAt)}) had a security change on ${utc(p.at)}: ${p.change}.`,
      `Notices like this one come here for ${p.noticeDays} days after an address change, so that a change you did not ask for does not go unseen.`,
      `If you did not ask for the address change, contact ${p.contact} at once.`,
    ]);
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
    const when = utc(p.at);
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
    const when = utc(p.at);
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
