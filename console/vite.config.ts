import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

// `npm run dev` / `npm run preview` proxy the API to a running local stack (`make up`), so the
// app is tried on its own origin exactly as the gateway will serve it.
const api = process.env.SKUCAST_API_URL ?? `http://127.0.0.1:${process.env.SKUCAST_API_PORT ?? "3000"}`;
const proxy = { "/api": { target: api, changeOrigin: false } };

export default defineConfig({
  plugins: [preact()],
  build: { outDir: "dist", sourcemap: false, target: "es2020", chunkSizeWarningLimit: 300 },
  server: { host: "127.0.0.1", proxy },
  preview: { host: "127.0.0.1", proxy },
});
