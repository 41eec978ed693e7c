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

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

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
};
