import type { Selectable } from 'kysely';

/** Duo's answer to an authentication: allowed, refused, or not decided yet (async). */
export type DuoResult = 'waiting' | 'allow' | 'deny';

/** What a Duo txid stands for (migration 0020): a verified push reserved at preauth, or an /auth call. */
export interface DuoTransactionTable {
  id: string;
  firm_id: string;
  application_id: string;
  user_id: string;
  kind: 'verified_push' | 'auth' | 'enroll_portal';
  attempt_id: string | null;
  push_id: string | null;
  number: string | null;
  result: DuoResult;
  status: string;
  status_msg: string;
  used_at: number | null;
  created_at: number;
  expires_at: number;
}
export type DuoTransaction = Selectable<DuoTransactionTable>;
