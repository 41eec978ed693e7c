import { defineConfig } from 'vitest/config';

/** Browser tests: Debian's Chromium driven by playwright-core against a real listening server. */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
