/**
 * Logins counted per firm, application and UTC day (migration 0024), incremented in the
 * transaction of the login they count (login-counts.ts). Read for the Usage section's "Logins
 * per application" and an application's page.
 */
export interface LoginCountTable {
  firm_id: string;
  /** Days since 1970-01-01, UTC. */
  day: number;
  /** The application's id; '' for Tessera's own sign-in. */
  application_key: string;
  logins: number;
  /** Of them, with a second factor answered (or enrolled and used at first login). */
  second_factor: number;
  /** Of them, on the password alone because no licence was free (the no-seat bypass). */
  bypass: number;
}
