/** The portal's own data: a firm's immigration cases (made up), each for a corporation's employee. */
export interface Case {
  number: string;
  beneficiary: string;
  corporation: string;
  type: string;
  status: string;
}

export const CASES: Case[] = [
  { number: 'IMM-2026-0141', beneficiary: 'Felix Foreign', corporation: 'Acme Corporation', type: 'H-1B extension', status: 'Documents requested' },
  { number: 'IMM-2026-0152', beneficiary: 'Priya Raman', corporation: 'Acme Corporation', type: 'L-1A petition', status: 'Filed' },
  { number: 'IMM-2026-0163', beneficiary: 'Tomás Ortega', corporation: 'Globex Industries', type: 'O-1 petition', status: 'In preparation' },
  { number: 'IMM-2026-0170', beneficiary: 'Mei Chen', corporation: 'Globex Industries', type: 'PERM labor certification', status: 'Approved' },
  { number: 'IMM-2026-0188', beneficiary: 'Jonas Berg', corporation: 'Initech', type: 'TN renewal', status: 'Filed' },
];

/** What a user sees: the firm's staff every case, a corporation's users their corporation's only. */
export function casesFor(user: Record<string, unknown>): Case[] {
  if (user.kind === 'case_manager' || user.kind === 'vendor_case_manager') return CASES;
  return CASES.filter((c) => c.corporation === user.corporation);
}
