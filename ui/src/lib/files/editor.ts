//! CodeMirror 6 set-up for the Files editor: basic editing, syntax highlighting by language
//! name (see util.languageFor), Mod-S to save, a change callback for the dirty state.
import { css } from "@codemirror/lang-css";
import { html } from "@codemirror/lang-html";
import { javascript } from "@codemirror/lang-javascript";
import { json } from "@codemirror/lang-json";
import { markdown } from "@codemirror/lang-markdown";
import { python } from "@codemirror/lang-python";
import { rust } from "@codemirror/lang-rust";
import { yaml } from "@codemirror/lang-yaml";
import type { Extension } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { basicSetup } from "codemirror";

export function languageExtension(lang: string | null): Extension {
  switch (lang) {
    case "javascript":
      return javascript({ jsx: true });
    case "typescript":
      return javascript({ typescript: true, jsx: true });
    case "python":
      return python();
    case "json":
      return json();
    case "markdown":
      return markdown();
    case "html":
      return html();
    case "css":
      return css();
    case "yaml":
      return yaml();
    case "rust":
      return rust();
    default:
      return [];
  }
}

export function createEditor(
  parent: HTMLElement,
  doc: string,
  lang: string | null,
  onChange: (text: string) => void,
  onSave: () => void,
): EditorView {
  return new EditorView({
    parent,
    doc,
    extensions: [
      basicSetup,
      languageExtension(lang),
      keymap.of([{ key: "Mod-s", preventDefault: true, run: () => (onSave(), true) }]),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) onChange(u.state.doc.toString());
      }),
      EditorView.theme({
        "&": { height: "100%", fontSize: "13px", backgroundColor: "var(--panel)", color: "var(--text)" },
        ".cm-scroller": { fontFamily: "var(--mono)" },
        ".cm-gutters": { backgroundColor: "var(--bg)", color: "var(--faint)", borderRight: "1px solid var(--border)" },
        ".cm-activeLine, .cm-activeLineGutter": { backgroundColor: "var(--hover)" },
      }),
    ],
  });
}

/** Replaces the whole document (reload after a change on disk). */
export function setText(view: EditorView, text: string) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}
