import { defineConfig } from 'electron-vite';
import vue from '@vitejs/plugin-vue';

// Three builds, in electron-vite's default layout:
// - main (src/main → out/main): Node, ESM, dependencies external (loaded from node_modules, none native),
//   and the peer's event-checking worker (out/main/event-check-worker.js);
// - preload (src/preload → out/preload/index.cjs): sandboxed, so one self-contained CommonJS file;
// - renderer (src/renderer → out/renderer): Vue. Relative imports of src/shared use `.js`
//   extensions (NodeNext); Vite resolves them to the `.ts` sources.
export default defineConfig({
  main: {
    build: {
      externalizeDeps: true,
      // the worker that checks a catch-up's events is an entry of its own, beside index.js
      rollupOptions: {
        input: { index: 'src/main/index.ts', 'event-check-worker': 'src/peer/event-check-worker.ts' },
      },
    },
  },
  preload: {
    build: {
      externalizeDeps: false,
      lib: { entry: 'src/preload/index.ts', formats: ['cjs'], fileName: () => 'index.cjs' },
    },
  },
  renderer: {
    plugins: [vue()],
    build: { chunkSizeWarningLimit: 1500 },
  },
});
