// Vite builds the web app into dist/, which vaultd serves (--web-dir). `npm run dev` serves it
// with hot reload and sends /api (REST and the sync WebSocket) to a vaultd on VAULTD (default
// http://127.0.0.1:8080).
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

const vaultd = process.env.VAULTD ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 2000 },
  server: { proxy: { '/api': { target: vaultd, ws: true } } }
})
