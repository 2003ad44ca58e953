import { defineConfig } from 'vitest/config';

/**
 * Tests that take more than a minute (`*.slow.test.ts`): the long fault tests
 * (`npm run test:faults`) and the container build replay (`npm run test:deploy`).
 * Same setup as vitest.config.ts, other files, longer timeouts.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.slow.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
  },
});
