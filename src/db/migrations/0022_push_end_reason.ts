import { sql, type Kysely } from 'kysely';

// Issue 16 item 8: why a push request ended, beside its status, for the screens that explain it.
//   denied  + 'wrong_number'  the number typed in the app was not the one on the login screen
//                             (the login screen says the number did not match);
//           + 'mistake'       "It was a mistake"; NULL: denied without a reason;
//   expired + 'superseded'    a newer push of the same user replaced it;
//           + 'cancelled'     its login ended another way (another factor, signed out)
//                             before anybody answered; NULL: nobody answered within 60 s.
// The device stream tells the phone to drop a superseded or cancelled request at once.
// Existing rows keep NULL (their reason is in the audit log).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('push_transactions')
    .addColumn('end_reason', 'text', (c) => c.check(sql`end_reason in ('wrong_number', 'mistake', 'superseded', 'cancelled')`))
    .execute();
}
