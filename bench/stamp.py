#!/usr/bin/env python3
"""Timestamp the terminal output of `berth create` (for scripts/bench-create.sh --profile).

    ... | stamp.py T0_NS PHASES_FILE > LOG

Reads the CLI's pseudo-terminal output, writes every line (split on CR and LF, ANSI
escapes removed) prefixed with milliseconds since T0_NS, and at EOF writes PHASES_FILE:
the time each create phase began (as the CLI shows them) and how long it lasted.
"""

import re
import sys
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>78]")

# (phase name, regex on a line that announces it), in create order. indicatif pads its
# lines to the terminal width instead of ending them, so a "line" here may hold several
# screen lines: the patterns are not anchored.
PHASES = [
    ("pull", re.compile(r"Resolving ")),
    ("unpack", re.compile(r"unpack \[")),
    ("create", re.compile(r"Creating container")),
    ("start", re.compile(r"Starting")),
    ("bridge", re.compile(r"Waiting for the bridge")),
]


def main():
    t0 = int(sys.argv[1])
    phases_file = sys.argv[2] if len(sys.argv) > 2 else None
    first = {}
    last_ms = 0
    buf = b""
    out = sys.stdout
    src = sys.stdin.buffer.raw
    while True:
        chunk = src.read(65536)
        ms = (time.time_ns() - t0) / 1e6
        if not chunk:
            break
        # indicatif redraws its bars with cursor movements, not newlines: every escape
        # sequence ends a segment too.
        buf += ANSI.sub(b"\n", chunk)
        parts = re.split(rb"[\r\n]", buf)
        buf = parts.pop()
        for raw in parts:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            out.write(f"{ms:9.1f} {line}\n")
            for name, rx in PHASES:
                if name not in first and rx.search(line):
                    first[name] = ms
        out.flush()
    if buf.strip():
        out.write(f"{ms:9.1f} {buf.decode('utf-8', 'replace').strip()}\n")
    end = (time.time_ns() - t0) / 1e6
    if phases_file:
        seen = [(n, first[n]) for n, _ in PHASES if n in first]
        rows = []
        prev_name, prev_t = "startup", 0.0
        for name, t in seen:
            rows.append((prev_name, prev_t, t))
            prev_name, prev_t = name, t
        rows.append((prev_name, prev_t, end))
        with open(phases_file, "w") as f:
            f.write("  ".join(f"{n}={b - a:.0f}" for n, a, b in rows) + f"  (total {end:.0f} ms)\n")


if __name__ == "__main__":
    main()
