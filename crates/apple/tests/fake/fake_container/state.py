"""Containers and images the fake knows, in $FAKE_CONTAINER_STATE: one JSON record per
container (its ManagedContainer snapshot and what `create` was given), one file per image."""

import copy
import hashlib
import json
import os
import subprocess
import sys
import time

from . import config
from .output import fail, fixture, now


def write_file(path, text):
    """Written aside and renamed: a concurrent reader never sees half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def state_dir(*parts):
    if not config.STATE:
        fail("internalError: FAKE_CONTAINER_STATE is not set (the fake needs it)")
    return os.path.join(config.STATE, *parts)


def record_path(cid):
    return state_dir("containers", f"{cid}.json")


def load(cid):
    try:
        with open(record_path(cid), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def save(record):
    write_file(record_path(record["snapshot"]["id"]), json.dumps(record))


def all_records():
    d = state_dir("containers")
    if not os.path.isdir(d):
        return []
    names = sorted(n[:-5] for n in os.listdir(d) if n.endswith(".json"))
    return [r for r in (load(n) for n in names) if r]


def image_path(ref):
    return state_dir("images", hashlib.sha256(ref.encode()).hexdigest() + ".json")


def template():
    """The release's `inspect` output: every field a container of that release has."""
    return json.loads(fixture("inspect.json"))[0]


def is_running(record, tasks):
    """`tasks`: ctr's task states in real mode (the truth there), else unused."""
    if config.CTR:
        return tasks.get(record["snapshot"]["id"]) == "RUNNING"
    return record["snapshot"]["status"]["state"] == "running"


def snapshot(record, tasks):
    """The ManagedContainer JSON of a record, with the live state in real mode."""
    snap = copy.deepcopy(record["snapshot"])
    if config.CTR:
        running = is_running(record, tasks)
        if running != (snap["status"]["state"] == "running"):
            set_state(snap, running)
    return snap


def set_state(snap, running):
    """ContainerStatus: a running container has its network attachment and start date."""
    if running:
        net = copy.deepcopy(template()["status"]["networks"][0])
        net["hostname"] = snap["id"]
        n = int(hashlib.sha256(snap["id"].encode()).hexdigest(), 16) % 200 + 10
        net["ipv4Address"] = f"192.168.64.{n}/24"
        net["ipv6Address"] = f"fd9c:5d1b:6a1e:1::{n}/64"
        snap["status"] = {"networks": [net], "startedDate": now(), "state": "running"}
    else:
        snap["status"] = {"networks": [], "state": "stopped"}


def hang(lines=()):
    """Blocks forever with a child in this process group (what a killed call must take along).
    The pids are written before anything is printed: a caller may kill at the first line."""
    child = subprocess.Popen(["sleep", "3600"])
    write_file(state_dir("hang.pid"), f"{os.getpid()} {child.pid}\n")
    for line in lines:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    while True:
        time.sleep(3600)
