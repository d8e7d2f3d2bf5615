import { defineConfig } from 'electron-vite';
import vue from '@vitejs/plugin-vue';

// Three builds, in electron-vite's default layout:
// - main (src/main → out/main): Node, ESM, dependencies external (loaded from node_modules, none native);
// - preload (src/preload → out/preload/index.cjs): sandboxed, so one self-contained CommonJS file;
// - renderer (src/renderer → out/renderer): Vue. Relative imports of src/shared use `.js`
//   extensions (NodeNext); Vite resolves them to the `.ts` sources.
export default defineConfig({
  main: {
    build: { externalizeDeps: true },
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
