import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/agent/**/*.test.ts', 'test/electron/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
      {
        plugins: [react()],
        test: {
          name: 'renderer',
          include: ['test/renderer/**/*.test.{ts,tsx}'],
          environment: 'jsdom',
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'vm',
          include: [
            'test/vm/**/*.test.ts',
            'test/api/**/*.test.ts',
            'test/cli/**/*.test.ts',
            'test/sdk/**/*.test.ts',
            'test/mcp/**/*.test.ts',
            'test/electron-daemon/**/*.test.ts',
            'test/e2e/**/*.test.ts',
          ],
          testTimeout: 300_000,
          hookTimeout: 900_000,
          // Real VMs under TCG: one file at a time keeps two cores from thrashing.
          fileParallelism: false,
        },
      },
    ],
  },
});
