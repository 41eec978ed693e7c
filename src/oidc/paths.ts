/** oidc-provider's routes, all under /oidc/ (features that are off keep theirs there too, unserved). */
export const OIDC_ROUTES = {
  authorization: '/oidc/auth',
  token: '/oidc/token',
  userinfo: '/oidc/userinfo',
  jwks: '/oidc/jwks',
  revocation: '/oidc/token/revocation',
  end_session: '/oidc/session/end',
  introspection: '/oidc/token/introspection',
  registration: '/oidc/reg',
  pushed_authorization_request: '/oidc/request',
  device_authorization: '/oidc/device/auth',
  code_verification: '/oidc/device',
  backchannel_authentication: '/oidc/backchannel',
  challenge: '/oidc/challenge',
  credential: '/oidc/credential',
} as const;

/** Tessera's own page for the login inside an authorization request (password and second factor). */
export const interactionPath = (uid: string) => `/oidc/interaction/${uid}`;
