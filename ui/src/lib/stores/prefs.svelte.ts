//! Theme preference, kept in localStorage (it is per machine and per user, not app data).
//! "system" follows the OS through `prefers-color-scheme` and keeps following it live.
export type ThemePref = "system" | "light" | "dark";
export const THEMES: readonly ThemePref[] = ["system", "light", "dark"];

const STORAGE_KEY = "berth.theme";

function load(): ThemePref {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    if (v === "light" || v === "dark" || v === "system") return v;
  } catch {
    /* unavailable: default */
  }
  return "system";
}

class Prefs {
  theme = $state<ThemePref>(load());
  #media: MediaQueryList | null = null;

  setTheme(theme: ThemePref) {
    this.theme = theme;
    try {
      localStorage.setItem(STORAGE_KEY, theme);
    } catch {
      /* session only */
    }
    this.apply();
  }

  /** Writes the resolved theme to <html data-theme>, which the CSS variables key on. */
  apply() {
    if (typeof window === "undefined") return;
    if (!this.#media && window.matchMedia) {
      this.#media = window.matchMedia("(prefers-color-scheme: dark)");
      this.#media.addEventListener("change", () => this.apply());
    }
    const dark = this.theme === "dark" || (this.theme === "system" && (this.#media?.matches ?? false));
    document.documentElement.dataset.theme = dark ? "dark" : "light";
  }
}

export const prefs = new Prefs();
