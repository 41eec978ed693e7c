import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The browser app lives in web/; the server serves the build from dist/web and
// answers index.html for every page path, so no base path is needed.
export default defineConfig({
  root: fileURLToPath(new URL('./web', import.meta.url)),
  plugins: [react()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    rollupOptions: {
      // Two apps: the Tessera web app, and the Tessera Authenticator (/authenticator, a PWA).
      input: {
        main: fileURLToPath(new URL('./web/index.html', import.meta.url)),
        authenticator: fileURLToPath(new URL('./web/authenticator.html', import.meta.url)),
      },
    },
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:3000',
    },
  },
});
