import type { Kind, UserView } from './api';

export const KIND_LABELS: Record<Kind, string> = {
  case_manager: 'Case manager',
  vendor_case_manager: 'Vendor case manager',
  corp_user: 'Corp user',
  foreign_national: 'Foreign national',
};

export const KINDS = Object.keys(KIND_LABELS) as Kind[];

export const KIND_OPTIONS = KINDS.map((kind) => ({ value: kind, label: KIND_LABELS[kind] }));

/** Corp users and foreign nationals belong to a corporation; staff kinds do not. */
export function belongsToCorporation(kind: Kind): boolean {
  return kind === 'corp_user' || kind === 'foreign_national';
}

export function formatDate(epochMs: number): string {
  return new Date(epochMs).toLocaleString();
}

export function describeState(user: UserView): string {
  if (!belongsToCorporation(user.kind)) return user.status === 'disabled' ? 'Disabled' : 'Active';
  const portal = user.portalAccess === 'disabled' ? 'Portal access disabled' : 'Portal access enabled';
  const record = user.recordState === 'inactive' ? 'record inactive' : 'record active';
  return `${portal}, ${record}`;
}

/** A URL-safe short name suggested from a display name: "Smith & Co." -> "smith-co". */
export function suggestSlug(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
