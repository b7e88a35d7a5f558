"""What the CLI prints: fixtures, Swift's JSON encoding, swift-argument-parser's errors."""

import datetime
import json
import os
import sys

from . import config


def fixture(name):
    with open(os.path.join(config.FIXTURES, config.VERSION, name), encoding="utf-8") as f:
        return f.read()


def fail(message, status=1):
    """What swift-argument-parser prints for a thrown error: `Error: <text>`, exit 1."""
    sys.stderr.write(f"Error: {message}\n")
    sys.exit(status)


def usage_error(message):
    """A parse error (ArgumentParser's validation failure: exit 64)."""
    sys.stderr.write(f"Error: {message}\nUsage: container <subcommand>\n")
    sys.exit(64)


def compact(value):
    """JSONEncoder with .sortedKeys: no spaces, `/` escaped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/")


def pretty(value):
    """JSONEncoder with [.prettyPrinted, .sortedKeys]: two spaces, `"key" : value`."""
    return json.dumps(value, sort_keys=True, indent=2, separators=(",", " : "), ensure_ascii=False).replace("/", "\\/")


def now():
    """JSONEncoder's .iso8601 date."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def service_down():
    """Any call that needs the API server when it does not answer (Application.main)."""
    sys.stderr.write(fixture("errors/system-not-running.txt"))
    sys.exit(1)


def log_call(argv):
    """One JSON line per call in $FAKE_CONTAINER_LOG (one write: concurrent calls do not mix)."""
    if config.LOG:
        fd = os.open(config.LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (json.dumps({"argv": argv}) + "\n").encode())
        finally:
            os.close(fd)
