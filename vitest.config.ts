import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests over a minute long (*.slow.test.ts) run with `npm run test:faults` and
    // `npm run test:deploy` (vitest.slow.config.ts).
    exclude: ['test/**/*.slow.test.ts', '**/node_modules/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn processes and each uses its own database; two files at a
    // time keeps a 2-core machine from starving the processes under test.
    maxWorkers: 2,
  },
});
