import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/agent/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'vm',
          include: ['test/vm/**/*.test.ts', 'test/api/**/*.test.ts', 'test/cli/**/*.test.ts', 'test/sdk/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 900_000,
          // Real VMs under TCG: one file at a time keeps two cores from thrashing.
          fileParallelism: false,
        },
      },
    ],
  },
});
