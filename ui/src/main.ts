//! Entry point. The in-memory backend is installed first in mock builds (e2e) and when the dev
//! server is opened in a plain browser (no Tauri around it). Both conditions are compile-time
//! constants in a production build, so the import and the fake are dropped from `dist/`.
import { mount } from "svelte";
import "./app.css";
import App from "./App.svelte";
import { i18n } from "./lib/i18n/index.svelte";
import { prefs } from "./lib/stores/prefs.svelte";

async function boot() {
  const inTauri = "__TAURI_INTERNALS__" in window;
  if (import.meta.env.MODE === "mock" || (import.meta.env.DEV && !inTauri)) {
    const fake = await import("./lib/ipc/fake");
    fake.installFakeBackend();
  }
  prefs.apply();
  document.documentElement.lang = i18n.locale;
  mount(App, { target: document.getElementById("app")! });
}

boot();
