import type { Insertable, Selectable } from 'kysely';

/** The platform's own staff. They belong to no firm. */
export interface OperatorTable {
  id: string;
  email: string;
  name: string;
  password_hash: string | null;
  status: 'active' | 'disabled';
  created_at: number;
}
export type Operator = Selectable<OperatorTable>;
export type NewOperator = Insertable<OperatorTable>;
