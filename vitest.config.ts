import { defineConfig } from 'vitest/config';
import vue from '@vitejs/plugin-vue';

// One project per kind of test, so the default run and the heavy suites can be picked separately.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' } },
      {
        plugins: [vue()],
        test: { name: 'ui', include: ['test/ui/**/*.test.ts'], environment: 'happy-dom' },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: { name: 'lan', include: ['test/lan/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 60_000, fileParallelism: false },
      },
      {
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000, fileParallelism: false },
      },
      {
        // many real processes at once: run alone (scripts/test.sh), so the other suites' load does not
        // turn the overlay's timeouts into its figures
        test: { name: 'swarm', include: ['test/swarm/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 180_000, fileParallelism: false },
      },
      {
        test: { name: 'chaos', include: ['test/chaos/**/*.test.ts'], testTimeout: 3_600_000, hookTimeout: 120_000, fileParallelism: false },
      },
    ],
  },
});
