"""`container create`: its flags checked as apple/container's Parser does, the container
recorded from the release's `inspect` template."""

import hashlib
import json
import os
import re
import stat

from . import config, ctr
from .args import DEBUG, one, parse
from .output import fail, now, usage_error
from .state import image_path, load, save, set_state, template, write_file

OPTIONS = {
    "--name": "name", "--label": "label", "-l": "label", "--entrypoint": "entrypoint",
    "--env": "env", "-e": "env", "--mount": "mount", "--volume": "volume", "-v": "volume",
    "--publish-socket": "socket", "--cap-drop": "capDrop", "--cap-add": "capAdd",
    "--cpus": "cpus", "-c": "cpus", "--memory": "memory", "-m": "memory", "--uid": "uid",
    "--gid": "gid", "--arch": "arch", "-a": "arch", "--platform": "platform", "--os": "os",
    "--network": "network", "--user": "user", "-u": "user", "--workdir": "cwd", "-w": "cwd",
}
FLAGS = {"--rm": "rm", "--init": "init", "--read-only": "readOnly", "-d": "detach", **DEBUG}


def memory_bytes(text):
    """Measurement.parse: binary units b, k, m, g, t, p (with optional `b`/`ib`)."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([bkmgtp]?)(i?b)?\s*", text.lower())
    if not m:
        fail("invalid size")
    return int(float(m.group(1)) * 1024 ** "bkmgtp".index(m.group(2) or "b"))


def parse_mount(text):
    """Parser.mount: `type=bind|virtiofs,source=…,target=…[,readonly]`; the source must be a
    directory."""
    d = {"type": "virtiofs"}
    for part in text.split(","):
        k, _, v = part.partition("=")
        k = {"src": "source", "dst": "target", "destination": "target", "ro": "readonly"}.get(k, k)
        if k not in ("type", "source", "target", "readonly"):
            fail(f"unknown directive {k} when parsing mount {text}")
        d[k] = True if k == "readonly" else v
    if not os.path.isdir(d.get("source", "")):
        fail(f"path '{d.get('source', '')}' does not exist")
    return {"source": d["source"], "target": d["target"], "readonly": d.get("readonly", False)}


def parse_socket(text):
    """Parser.publishSocket: `host:container`; a live socket at host is refused, anything else
    there removed, the host directory made."""
    parts = [p for p in text.split(":") if p]
    if len(parts) != 2:
        fail(f"invalid publish-socket format {text}. Expected: host_path:container_path")
    host, container = parts
    if os.path.lexists(host):
        if stat.S_ISSOCK(os.lstat(host).st_mode):
            fail(f"host socket {host} already exists and may be in use")
        os.unlink(host)
    os.makedirs(os.path.dirname(host), exist_ok=True)
    return {"host": host, "container": container}


def check_name(cid):
    """Utility.validEntityName (1.0, 1.1); ManagedContainer.nameValid, at most 63 (1.2)."""
    ok = re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", cid) is not None
    if config.VERSION == "1.2":
        if not ok or len(cid) > 63:
            fail(f"container ID {cid} is not a valid container ID")
    elif not ok:
        fail(f"invalid entity name {cid}")


def parse_labels(raw):
    """Parser.labels: split at `=` into at most three parts; three are refused."""
    labels = {}
    for label in raw:
        parts = label.split("=", 2)
        if len(parts) > 2:
            fail(f"invalid label format {label}")
        labels[parts[0]] = parts[1] if len(parts) == 2 else ""
    return labels


def ensure_image(image):
    """`create` fetches an image it does not have (Utility.containerConfigFromFlags)."""
    if config.CTR and image not in ctr.images():
        ctr.pull(image)
    write_file(image_path(image), json.dumps({"reference": image}))


def cmd_create(argv):
    values, rest = parse(argv, OPTIONS, FLAGS, positional_rest=True)
    if not rest:
        usage_error("Missing expected argument '<image>'")
    image, arguments = rest[0], rest[1:]
    cid = one(values, "name") or hashlib.sha256(os.urandom(8)).hexdigest()[:36]
    check_name(cid)
    if load(cid):
        fail(f"container already exists: {cid}")
    labels = parse_labels(values.get("label", []))
    mounts = [parse_mount(m) for m in values.get("mount", [])]
    sockets = [parse_socket(s) for s in values.get("socket", [])]
    memory = memory_bytes(one(values, "memory")) if one(values, "memory") else None
    if memory is not None and memory < 200 * 1024 * 1024:
        fail(f"minimum memory amount allowed is 200 MiB (got {memory} bytes)")
    cpus = int(one(values, "cpus")) if one(values, "cpus") else None
    ensure_image(image)
    snap = template()
    cfg = snap["configuration"]
    entrypoint = one(values, "entrypoint") or "sh"
    env = [e for e in cfg["initProcess"]["environment"] if e.startswith("PATH=")] + values.get("env", [])
    cfg.update({
        "id": cid, "labels": {} if "create-unlabelled" in config.FAIL else labels, "creationDate": now(),
        "capDrop": values.get("capDrop", []), "capAdd": values.get("capAdd", []),
        "mounts": [{"destination": m["target"], "options": ["ro"] if m["readonly"] else [],
                    "source": m["source"], "type": {"virtiofs": {}}} for m in mounts],
        "publishedSockets": [{"containerPath": s["container"], "hostPath": s["host"]} for s in sockets],
        "networks": [{"network": "default", "options": {"hostname": cid, "mtu": 1280}}],
    })
    cfg["image"]["reference"] = image
    cfg["initProcess"].update({"executable": entrypoint, "arguments": arguments, "environment": env})
    if cpus:
        cfg["resources"]["cpus"] = cpus
    if memory is not None:
        cfg["resources"]["memoryInBytes"] = memory
    snap["id"] = cid
    set_state(snap, False)
    save({"snapshot": snap, "create": {
        "image": image, "entrypoint": entrypoint, "arguments": arguments, "env": env,
        "mounts": mounts, "sockets": sockets, "capDrop": cfg["capDrop"], "cpus": cpus, "memory": memory}})
    if "create" in config.FAIL:
        fail("internalError: \"failed to create container (simulated by the fake)\"")
    print(cid)
