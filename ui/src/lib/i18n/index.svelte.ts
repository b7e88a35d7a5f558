//! A tiny i18n module: two dictionaries, a reactive current language and `t()`. Reading
//! `i18n.lang` inside `t` makes every template that calls `t` re-render when the language changes.
import { en, type MessageKey } from "./en";
import { zh } from "./zh";

export type Lang = "en" | "zh";
export type { MessageKey };
export const LANGS: readonly Lang[] = ["en", "zh"];
export const LANG_LABELS: Record<Lang, string> = { en: "English", zh: "中文" };
export const dictionaries: Record<Lang, Record<MessageKey, string>> = { en, zh };

const STORAGE_KEY = "berth.lang";

function initialLang(): Lang {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === "en" || saved === "zh") return saved;
  } catch {
    // localStorage can be unavailable (tests, privacy settings): fall through to the browser.
  }
  const nav = typeof navigator !== "undefined" ? navigator.language : "en";
  return nav.toLowerCase().startsWith("zh") ? "zh" : "en";
}

class I18n {
  lang = $state<Lang>(initialLang());

  /** BCP 47 tag for Intl formatting. */
  get locale(): string {
    return this.lang === "zh" ? "zh-CN" : "en";
  }

  set(lang: Lang) {
    this.lang = lang;
    try {
      localStorage.setItem(STORAGE_KEY, lang);
    } catch {
      /* not persisted; still switched for this session */
    }
    if (typeof document !== "undefined") document.documentElement.lang = this.locale;
  }
}

export const i18n = new I18n();

export function translate(lang: Lang, key: MessageKey, params?: Record<string, string | number>): string {
  const text = dictionaries[lang][key] ?? en[key];
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}

export function t(key: MessageKey, params?: Record<string, string | number>): string {
  return translate(i18n.lang, key, params);
}
