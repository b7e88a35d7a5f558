//! Build-time fix for xterm.js under Tauri's `freezePrototype` (tauri.conf.json).
//!
//! With `Object.prototype` frozen, a plain assignment `obj.toString = fn` on an object that
//! inherits `toString` throws in strict code (the "override mistake"). xterm.js 6 does exactly
//! that once while its module loads (a keybinding helper namespace), which stopped the whole UI
//! from starting in the app. This rewrites that assignment into `Object.defineProperty`, which
//! frozen prototypes allow. The build fails if the pattern is gone, so an xterm update that
//! changes it is noticed instead of silently shipping a broken bundle.
import type { Plugin } from "vite";

const ASSIGN = /([A-Za-z_$][\w$]*)\.toString=([A-Za-z_$][\w$]*);/g;

export function xtermFrozenPrototype(): Plugin {
  return {
    name: "berth-xterm-frozen-prototype",
    enforce: "pre",
    transform(code, id) {
      if (!/[\\/]@xterm[\\/]xterm[\\/]lib[\\/]xterm\.mjs/.test(id)) return null;
      let n = 0;
      const out = code.replace(ASSIGN, (_m, obj: string, fn: string) => {
        n++;
        return `Object.defineProperty(${obj},"toString",{value:${fn},writable:!0,configurable:!0,enumerable:!0});`;
      });
      if (n !== 1) this.error(`expected one 'x.toString=y;' in xterm.mjs, found ${n}: check freezePrototype compatibility`);
      return { code: out, map: null };
    },
  };
}
