import type { Kysely } from 'kysely';

// Security review, issue 12 items 2 and 3.
//
// one_time_tokens.email: the address a link was mailed to (a setup link: the operator's address
// when it was issued). A link works only while its account still has that address, so a link
// mailed to a mistyped address dies when a superuser corrects it. Links issued before this
// migration have none, match no address, and so stop working: nobody can tell any more which
// address they went to, and a new link is one click for a superuser (the first operator's setup
// link is issued again at every start anyway until it is used).
//
// users and operators: previous_email and email_changed_at, the address before the latest change
// and when it changed. For 7 days after a change, security notices (password set, MFA reset, a
// new authenticator...) go to that previous address too: src/notify/security-notice.ts.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('one_time_tokens').addColumn('email', 'text').execute();
  for (const table of ['users', 'operators']) {
    await db.schema.alterTable(table).addColumn('previous_email', 'text').execute();
    await db.schema.alterTable(table).addColumn('email_changed_at', 'bigint').execute();
  }
}
