import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { applicationRoutes } from '../applications/application.routes.js';
import { auditRoutes } from '../audit/audit.routes.js';
import { directoryRoutes } from '../directory/directory.routes.js';
import { enrollmentRoutes } from '../enrollment/enrollment.routes.js';
import { fraudReportRoutes } from '../mfa/fraud-reports.routes.js';
import { loginRoutes } from '../login/login.routes.js';
import { meSecurityRoutes } from '../me/me-security.routes.js';
import { mfaLoginRoutes } from '../mfa/mfa-login.routes.js';
import { mfaRoutes } from '../mfa-policy/mfa.routes.js';
import { passwordRoutes } from '../login/password.routes.js';
import { operatorRoutes } from '../operators/operator.routes.js';
import { passkeyRoutes } from '../login/passkey.routes.js';
import { pushRoutes } from '../mfa/push.routes.js';
import { webauthnRoutes } from '../mfa/webauthn.routes.js';
import { subscriptionRoutes } from '../subscriptions/subscription.routes.js';

/** Every route module of the web pages' API (/api/v1, the device API aside: src/device/door.ts), in one list. */
export const routeModules: ((ctx: AppContext) => FastifyPluginAsyncTypebox)[] = [
  loginRoutes,
  passwordRoutes,
  operatorRoutes,
  directoryRoutes,
  mfaRoutes,
  subscriptionRoutes,
  enrollmentRoutes,
  fraudReportRoutes,
  meSecurityRoutes,
  mfaLoginRoutes,
  webauthnRoutes,
  passkeyRoutes,
  pushRoutes,
  auditRoutes,
  applicationRoutes,
];
