// Vite build of the console: hashed assets under /assets, and a nonce placeholder in every tag the
// gateway replaces per answer (services/gateway/src/console.ts), so the strict CSP needs no inline code.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  html: { cspNonce: '__SECUREVAULT_CSP_NONCE__' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No data: URIs: the page's CSP allows images and fonts from 'self' only.
    assetsInlineLimit: 0,
    target: 'es2022',
  },
  // `vite` (development) against a gateway from `make dev`.
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
