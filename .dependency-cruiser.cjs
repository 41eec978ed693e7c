/**
 * The dependency rules of Tessera's source (npm run lint:deps, in .ci/run after the type-check):
 * no import circles; the core knows no HTTP framework and no door; the doors do not import
 * each other. See the README, "How it is built".
 */
/**
 * The front doors: each adapts the core to one way a login reaches Tessera, as the paths its
 * modules live at. The web pages' API is `src/web/` (its plugin and route list), the login and
 * second-factor routes it serves (`src/login/`, `src/mfa/`, `src/me/`) and each domain's
 * `*.routes.ts` (the administration screens' routes); the device API, the OpenID Provider and the
 * Duo-compatible APIs have a folder each.
 */
const DOORS = {
  web: '^src/(web|login|mfa|me)/|^src/(?!device/|oidc/|duo/)[^/]+/[^/]+\\.routes\\.ts$',
  'device-api': '^src/device/',
  oidc: '^src/oidc/',
  duo: '^src/duo/',
};
const ANY_DOOR = Object.values(DOORS).join('|');

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle: move the shared piece to where it belongs (a lower module both can import).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-without-http',
      severity: 'error',
      comment: 'The core decides without HTTP: no Fastify, no Fastify plugin.',
      from: { path: '^src/core/' },
      to: { path: '(^|/)node_modules/(fastify|@fastify/|fastify-)' },
    },
    {
      name: 'core-without-doors',
      severity: 'error',
      comment: 'The core never imports a door: the doors import the core.',
      from: { path: '^src/core/' },
      to: { path: ANY_DOOR },
    },
    ...Object.entries(DOORS).map(([door, path]) => ({
      name: `door-${door}-alone`,
      severity: 'error',
      comment: `A door does not import another door (the ${door} door imports the core, never a sibling door).`,
      from: { path },
      to: { path: Object.entries(DOORS).filter(([d]) => d !== door).map(([, p]) => p).join('|') },
    })),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|web|test|bench|scripts)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
