import type { Insertable, Selectable, Updateable } from 'kysely';

export interface FirmTable {
  id: string;
  /** Lower-case letters, digits and dashes; chooses the firm at login when an email exists in several firms. */
  slug: string;
  name: string;
  created_at: number;
}
export type Firm = Selectable<FirmTable>;
export type NewFirm = Insertable<FirmTable>;
export type FirmUpdate = Updateable<FirmTable>;
