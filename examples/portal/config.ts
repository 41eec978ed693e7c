/**
 * The example portal's configuration, from the environment. Everything a relying party needs
 * to know about its OpenID Provider is the issuer (the rest comes from discovery), its own
 * client id and secret, and where the provider sends the browser back.
 */
export interface PortalConfig {
  /** Tessera's TESSERA_PUBLIC_URL: discovery is at <issuer>/.well-known/openid-configuration. */
  issuer: URL;
  clientId: string;
  clientSecret: string;
  /** Registered in Tessera exactly as written here (Applications -> Redirect URIs). */
  redirectUri: URL;
  /** Where Tessera sends the browser after logout (Applications -> Post-logout redirect URIs). */
  postLogoutRedirectUri: URL;
  host: string;
  port: number;
}

/** The client id `npm run demo` registers the example portal under. */
export const DEMO_PORTAL_CLIENT_ID = 'demo-portal';
export const DEFAULT_PORTAL_PORT = 3001;

export class PortalConfigError extends Error {}

export function portalConfigFromEnv(env: NodeJS.ProcessEnv = process.env): PortalConfig {
  const url = (name: string, fallback: string) => {
    const value = env[name] || fallback;
    try {
      return new URL(value);
    } catch {
      throw new PortalConfigError(`${name} must be an absolute URL (got ${JSON.stringify(value)})`);
    }
  };
  const port = Number(env.PORTAL_PORT || DEFAULT_PORTAL_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new PortalConfigError(`PORTAL_PORT must be a port number (got ${JSON.stringify(env.PORTAL_PORT)})`);
  const clientSecret = env.PORTAL_CLIENT_SECRET ?? '';
  if (!clientSecret) {
    throw new PortalConfigError('PORTAL_CLIENT_SECRET is required: the client secret Tessera showed when the application was registered (npm run demo prints it; Applications -> Rotate client secret makes a new one).');
  }
  return {
    issuer: url('PORTAL_ISSUER', 'http://localhost:3000'),
    clientId: env.PORTAL_CLIENT_ID || DEMO_PORTAL_CLIENT_ID,
    clientSecret,
    redirectUri: url('PORTAL_REDIRECT_URI', `http://localhost:${port}/callback`),
    postLogoutRedirectUri: url('PORTAL_POST_LOGOUT_REDIRECT_URI', `http://localhost:${port}/signed-out`),
    host: env.PORTAL_HOST || '127.0.0.1',
    port,
  };
}
