import { createApplication } from './applications/application.service.js';
import { systemActor } from './audit/audit.service.js';
import type { AppContext } from './context.js';
import { createCorporation } from './directory/corporation.service.js';
import { createUser } from './directory/user.service.js';
import type { UserKind } from './directory/user.table.js';
import { createFirm } from './firms/firm.service.js';

export const DEMO_FIRM_SLUG = 'demo';

/**
 * The example portal (examples/portal/) as an application of the demo firm: a fixed client id,
 * the one the portal's configuration defaults to, and the redirect URIs of its default port.
 */
export const DEMO_PORTAL = { clientId: 'demo-portal', name: 'Case Portal (example)', origin: 'http://localhost:3001' } as const;

/**
 * `npm run demo`: a demo firm with a superuser, users of every kind and a few
 * corporations. Nobody gets a password: each user is mailed a one-time set-password
 * link: by SMTP when it is configured, else printed to the console by the embedded
 * mail mode. Runs once per database.
 */
export async function seedDemo(ctx: AppContext): Promise<void> {
  const exists = await ctx.db.selectFrom('firms').select('id').where('slug', '=', DEMO_FIRM_SLUG).executeTakeFirst();
  if (exists) {
    ctx.announce('Demo firm already exists; see the operator outbox for its links, or send new ones from Users.');
  } else {
    await createDemoFirm(ctx);
  }
  await registerDemoPortal(ctx);
}

async function createDemoFirm(ctx: AppContext): Promise<void> {
  await ctx.db.transaction().execute(async (tx) => {
    const { firm, superuser } = await createFirm(ctx, tx, systemActor, {
      name: 'Demo Immigration LLP',
      slug: DEMO_FIRM_SLUG,
      superuser: { name: 'Ava Admin', email: 'ava.admin@demo-firm.example' },
    });
    const actor = { ...systemActor, firmId: firm.id };
    const acme = await createCorporation(ctx, tx, actor, firm.id, 'Acme Corporation');
    const globex = await createCorporation(ctx, tx, actor, firm.id, 'Globex Industries');
    await createCorporation(ctx, tx, actor, firm.id, 'Initech');
    const people: [string, string, UserKind, string | null][] = [
      ['Carl Case', 'carl.case@demo-firm.example', 'case_manager', null],
      ['Vera Vendor', 'vera.vendor@vendor.example', 'vendor_case_manager', null],
      ['Cora Corp', 'cora@acme.example', 'corp_user', acme.id],
      ['Felix Foreign', 'felix@acme.example', 'foreign_national', acme.id],
      ['Gina Globex', 'gina@globex.example', 'corp_user', globex.id],
    ];
    for (const [name, email, kind, corporationId] of people) {
      await createUser(ctx, tx, actor, firm.id, { name, email, kind, corporationId });
    }
    // With SMTP the links go out by mail (the outbox sends them); without, the embedded mail mode prints them next.
    const links = ctx.config.smtpUrl ? `Set-password links were mailed to each user through ${smtpHost(ctx.config.smtpUrl)}.` : 'Set-password links follow.';
    ctx.announce(`Demo firm "${firm.name}" created (short name "${firm.slug}"); superuser ${superuser.email}. ${links}`);
  });
}

/**
 * Registers the example portal once per database (also in a demo firm seeded before it existed)
 * and prints its client secret, shown this once like every client secret, with the command
 * that starts the portal beside Tessera.
 */
async function registerDemoPortal(ctx: AppContext): Promise<void> {
  const firm = await ctx.db.selectFrom('firms').select('id').where('slug', '=', DEMO_FIRM_SLUG).executeTakeFirstOrThrow();
  const registered = await ctx.db.selectFrom('applications').select('id').where('client_id', '=', DEMO_PORTAL.clientId).executeTakeFirst();
  if (registered) {
    ctx.announce(`The example portal is registered (client id ${DEMO_PORTAL.clientId}); its secret was printed when it was registered, and Applications -> "${DEMO_PORTAL.name}" -> Rotate client secret makes a new one.`);
    return;
  }
  const { secret } = await ctx.db.transaction().execute((tx) =>
    createApplication(
      ctx,
      tx,
      { ...systemActor, firmId: firm.id },
      firm.id,
      { type: 'oidc', name: DEMO_PORTAL.name, redirectUris: [`${DEMO_PORTAL.origin}/callback`], postLogoutRedirectUris: [`${DEMO_PORTAL.origin}/signed-out`] },
      { clientId: DEMO_PORTAL.clientId },
    ),
  );
  ctx.announce(
    `Example portal registered as application "${DEMO_PORTAL.name}" of the demo firm: client id ${DEMO_PORTAL.clientId}, client secret (shown once): ${secret}\n` +
      `Start it beside Tessera, then open ${DEMO_PORTAL.origin}:\n  PORTAL_ISSUER=${ctx.config.publicUrl.origin} PORTAL_CLIENT_SECRET=${secret} npm run portal`,
  );
}

/** The SMTP server's host and port, without credentials. */
function smtpHost(url: string | URL): string {
  return new URL(String(url)).host;
}
