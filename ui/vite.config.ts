/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { xtermFrozenPrototype } from "./src/lib/terminal/vite-plugin";

// Tauri loads ui/dist (see ../src-tauri/tauri.conf.json); in dev it loads this server on a fixed port.
export default defineConfig({
  plugins: [svelte(), xtermFrozenPrototype()],
  clearScreen: false,
  // Same host and port as devUrl in ../src-tauri/tauri.conf.json.
  server: { port: 5173, strictPort: true, host: "localhost" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // WebKitGTK / WKWebView of current distros; keeps output modern and small.
    target: "es2022",
    sourcemap: false,
  },
  resolve: process.env.VITEST ? { conditions: ["browser"] } : undefined,
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.ts"],
  },
});
