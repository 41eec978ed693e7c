import type { Selectable } from 'kysely';
import type { DuoResult } from './duo-transaction.table.js';

/** One Universal Prompt login, authorize to token (migration 0023). */
export interface DuoPromptTable {
  id: string;
  browser_hash: string;
  firm_id: string;
  application_id: string;
  user_id: string | null;
  username: string;
  attempt_id: string | null;
  push_id: string | null;
  redirect_uri: string;
  state: string;
  nonce: string | null;
  use_duo_code_attribute: number;
  stage: 'second_factor' | 'enroll' | 'done';
  result: DuoResult;
  status: string;
  status_msg: string;
  /** auth_context.factor: duo_push, passcode, webauthn, bypass... (null when none was asked). */
  factor: string | null;
  /** auth_context.reason: user_approved, valid_passcode, user_mistake, ... */
  reason: string | null;
  auth_device: string | null;
  ip: string | null;
  auth_time: number | null;
  code_hash: string | null;
  code_expires_at: number | null;
  code_used_at: number | null;
  created_at: number;
  expires_at: number;
}
export type DuoPrompt = Selectable<DuoPromptTable>;

/** A client_assertion's jti, kept until the assertion expires (single use). */
export interface DuoClientAssertionTable {
  application_id: string;
  jti: string;
  expires_at: number;
}
