//! Where the user is. A tiny in-memory router: the app has a handful of screens and no URLs to
//! share, so a state object is simpler than a router library.
export const TABS = ["overview", "files", "terminal", "versions", "data", "skills", "agents", "activity"] as const;
export type Tab = (typeof TABS)[number];

export type Route = { view: "home" } | { view: "settings" } | { view: "bot"; bot: string; tab: Tab };

class Nav {
  route = $state<Route>({ view: "home" });
  /** The tab is remembered across bots, so comparing two bots' activity is one click each. */
  lastTab = $state<Tab>("overview");

  bot(bot: string, tab: Tab = this.lastTab) {
    this.lastTab = tab;
    this.route = { view: "bot", bot, tab };
  }

  settings() {
    this.route = { view: "settings" };
  }

  home() {
    this.route = { view: "home" };
  }

  get currentBot(): string | null {
    return this.route.view === "bot" ? this.route.bot : null;
  }
}

export const nav = new Nav();
