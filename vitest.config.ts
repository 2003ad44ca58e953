import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn processes and each uses its own database; two files at a
    // time keeps a 2-core machine from starving the processes under test.
    maxWorkers: 2,
  },
});
