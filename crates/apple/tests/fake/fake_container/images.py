"""`container image pull|inspect`."""

import json
import os
import sys

from . import config, ctr
from .args import DEBUG, one, parse
from .output import fail, fixture, pretty, usage_error
from .state import hang, image_path, write_file

PULL_OPTIONS = {"--progress": "progress", "--platform": "platform", "--arch": "arch", "-a": "arch",
                "--os": "os", "--scheme": "scheme", "--max-concurrent-downloads": "max"}


def cmd_image(argv):
    if not argv or argv[0] not in ("pull", "inspect"):
        usage_error("the fake has only `image pull` and `image inspect`")
    if argv[0] == "inspect":
        return inspect(argv[1:])
    values, refs = parse(argv[1:], PULL_OPTIONS, DEBUG)
    if len(refs) != 1:
        usage_error("Missing expected argument '<reference>'")
    return pull(refs[0], one(values, "progress", "auto"))


def present(ref):
    if config.CTR:
        return ref in ctr.images()
    return os.path.exists(image_path(ref))


def inspect(argv):
    _, refs = parse(argv, {}, DEBUG)
    missing = [r for r in refs if not present(r)]
    if missing:
        fail(f"image not found: {', '.join(sorted(missing))}")
    entry = json.loads(fixture("image-inspect.json"))[0]
    print(pretty([dict(entry, configuration=dict(entry["configuration"], name=r)) for r in refs]))


def pull(ref, progress):
    """The release's recorded plain progress on stderr (with `--progress plain`); in real mode
    `ctr image pull` runs between the fetch and the unpack lines."""
    lines = fixture("pull-progress.txt").splitlines()
    fetched = [line for line in lines if "Unpacking" not in line]
    unpacking = [line for line in lines if "Unpacking" in line]
    plain = progress == "plain"

    def show(line):
        if plain:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    if "pull" in config.HANG:
        hang(fetched[:3] if plain else [])
    if "pull" in config.FAIL:
        for line in fetched[:3]:
            show(line)
        fail(f"internalError: \"failed to fetch {ref}: connection reset (simulated by the fake)\"")
    for line in fetched:
        show(line)
    if config.CTR:
        ctr.pull(ref)
    for line in unpacking:
        show(line)
    write_file(image_path(ref), json.dumps({"reference": ref}))
