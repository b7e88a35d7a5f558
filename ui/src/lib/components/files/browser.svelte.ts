//! The Files tab's directory listing: the current folder and its entries as shown (directories
//! first, natural order, sortable, hidden files on request), with the selection, the keyboard
//! cursor and the anchor of shift-ranges. Watch events and actions call `load` to refresh it.
import { api, type DirListing } from "../../ipc";
import { isHidden, parentOf, sortEntries, type SortKey } from "../../files/util";

/** What a click needs from its event: the keys that extend or toggle the selection. */
type Modifiers = Pick<MouseEvent, "shiftKey" | "ctrlKey" | "metaKey">;

export class FileBrowser {
  cwd = $state("/data");
  listing = $state<DirListing | null>(null);
  loadError = $state<string | null>(null);
  sortKey = $state<SortKey>("name");
  ascending = $state(true);
  showHidden = $state(false);
  selected = $state<Set<string>>(new Set());
  cursor = $state(0);
  anchor = $state(0);

  readonly visible = $derived(
    this.listing
      ? sortEntries(this.listing.entries.filter((e) => this.showHidden || !isHidden(e)), this.sortKey, this.ascending)
      : [],
  );
  readonly selection = $derived(this.visible.filter((e) => this.selected.has(e.path)));

  readonly #bot: () => string;

  constructor(bot: () => string) {
    this.#bot = bot;
  }

  /** Lists `path`; an answer for a folder left meanwhile is dropped. */
  async load(path = this.cwd, keepSelection = true) {
    try {
      const l = await api.files.list(this.#bot(), path);
      if (path !== this.cwd) return;
      this.listing = l;
      this.loadError = null;
      if (!keepSelection) {
        this.selected = new Set();
        this.cursor = 0;
      } else {
        const paths = new Set(l.entries.map((e) => e.path));
        this.selected = new Set([...this.selected].filter((p) => paths.has(p)));
      }
    } catch (e) {
      if (path === this.cwd) this.loadError = (e as Error).message;
    }
  }

  go(path: string) {
    // The old listing stays until the new one arrives, so the list keeps keyboard focus.
    this.cwd = path;
    this.loadError = null;
    this.load(path, false);
  }

  up() {
    const up = parentOf(this.cwd);
    if (up && up !== this.cwd) this.go(up);
  }

  setSort(key: SortKey) {
    if (this.sortKey === key) this.ascending = !this.ascending;
    else {
      this.sortKey = key;
      this.ascending = true;
    }
  }

  sortMark(key: SortKey) {
    return this.sortKey === key ? (this.ascending ? " ▲" : " ▼") : "";
  }

  click(e: Modifiers, i: number) {
    const entry = this.visible[i];
    if (e.shiftKey) this.#selectRange(i);
    else if (e.ctrlKey || e.metaKey) {
      this.toggle(entry.path);
      this.anchor = i;
    } else {
      this.selected = new Set([entry.path]);
      this.anchor = i;
    }
    this.cursor = i;
  }

  /** The cursor moved by keyboard to `i`: select it, or with shift the range from the anchor. */
  moveTo(i: number, extend: boolean) {
    this.cursor = i;
    if (extend) this.#selectRange(i);
    else {
      this.selected = new Set([this.visible[i].path]);
      this.anchor = i;
    }
  }

  toggle(path: string) {
    const s = new Set(this.selected);
    if (s.has(path)) s.delete(path);
    else s.add(path);
    this.selected = s;
  }

  selectAll() {
    this.selected = new Set(this.visible.map((x) => x.path));
  }

  #selectRange(i: number) {
    const [a, b] = [Math.min(this.anchor, i), Math.max(this.anchor, i)];
    this.selected = new Set(this.visible.slice(a, b + 1).map((x) => x.path));
  }
}
