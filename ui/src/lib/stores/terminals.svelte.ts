//! Terminal view state that outlives the Terminal page (switching pages or bots and back):
//! which tab was active per bot, and the font size (kept in localStorage).
import { clampFont, FONT_DEFAULT } from "../terminal/theme";

const FONT_KEY = "berth.terminal.fontSize";

function loadFont(): number {
  try {
    const v = Number(localStorage.getItem(FONT_KEY));
    if (v) return clampFont(v);
  } catch {
    /* unavailable */
  }
  return FONT_DEFAULT;
}

class TerminalUi {
  /** Active session id per bot. */
  active = $state<Record<string, string>>({});
  fontSize = $state(loadFont());

  setFont(size: number) {
    this.fontSize = clampFont(size);
    try {
      localStorage.setItem(FONT_KEY, String(this.fontSize));
    } catch {
      /* session only */
    }
  }
}

export const terminalUi = new TerminalUi();
