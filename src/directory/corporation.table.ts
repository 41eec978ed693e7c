import type { Insertable, Selectable } from 'kysely';

/** A client organisation of a firm; corp users and foreign nationals belong to one. */
export interface CorporationTable {
  id: string;
  firm_id: string;
  name: string;
  created_at: number;
}
export type Corporation = Selectable<CorporationTable>;
export type NewCorporation = Insertable<CorporationTable>;
