"""Real mode: the workspace runs through containerd's `ctr` (see ../container)."""

import os
import re
import subprocess
import time

from . import config
from .output import fail
from .state import state_dir


def ctr(*args, check=True):
    binary = "ctr" if config.CTR in ("1", "true", "yes") else config.CTR
    r = subprocess.run([binary, "-n", config.NS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        fail(f"internalError: \"ctr {' '.join(args[:2])}: {r.stderr.strip()[-500:]}\"")
    return r


def tasks():
    """Task id → ctr status (RUNNING, STOPPED, CREATED, ...); empty outside real mode."""
    if not config.CTR:
        return {}
    out = {}
    for line in ctr("tasks", "ls").stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3:
            out[parts[0]] = parts[2]
    return out


def images():
    return ctr("images", "ls", "-q").stdout.split()


def internal_host(ref):
    """RequestScheme.isInternalHost: localhost, 127/8, 10/8, 192.168/16, 172.16/12 → http."""
    host = ref.split("/", 1)[0].split(":")[0]
    if host == "localhost":
        return True
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)\.(\d+)", host)
    if not m:
        return False
    a, b = int(m.group(1)), int(m.group(2))
    return a in (10, 127) or (a == 192 and b == 168) or (a == 172 and 16 <= b <= 31)


def pull(ref):
    r = ctr("image", "pull", *(["--plain-http"] if internal_host(ref) else []), ref, check=False)
    if r.returncode != 0:
        fail(f"internalError: \"failed to pull {ref}: {r.stderr.strip()[-300:]}\"")


def socket_dir(cid):
    """The private host directory bind-mounted where the container's published socket lives."""
    return state_dir("sockets", cid)


def start(record):
    """`ctr run -d` the first time, `ctr task start -d` after (the writable layer is kept);
    then each published socket's host path becomes a symlink to the socket in socket_dir."""
    cid = record["snapshot"]["id"]
    c = record["create"]
    os.makedirs(socket_dir(cid), mode=0o700, exist_ok=True)
    os.makedirs(state_dir("logs"), exist_ok=True)
    log_uri = "file://" + state_dir("logs", f"{cid}.log")
    if ctr("containers", "info", cid, check=False).returncode == 0:
        ctr("tasks", "delete", cid, check=False)
        ctr("tasks", "start", "-d", "--log-uri", log_uri, cid)
    else:
        ctr(*run_args(record, log_uri))
    for s in c["sockets"]:
        host = s["host"]
        if os.path.lexists(host):
            os.unlink(host)
        os.symlink(os.path.join(socket_dir(cid), os.path.basename(s["container"])), host)


def run_args(record, log_uri):
    cid = record["snapshot"]["id"]
    c = record["create"]
    args = ["run", "-d", "--log-uri", log_uri]
    if config.RUNC_ROOT:
        args += ["--runc-root", config.RUNC_ROOT]
    for m in c["mounts"]:
        mode = "ro" if m["readonly"] else "rw"
        args += ["--mount", f"type=bind,src={m['source']},dst={m['target']},options=rbind:{mode}"]
    for s in c["sockets"]:
        target = os.path.dirname(s["container"])
        args += ["--mount", f"type=bind,src={socket_dir(cid)},dst={target},options=rbind:rw"]
    for e in c["env"]:
        args += ["--env", e]
    for cap in c["capDrop"]:
        args += ["--cap-drop", cap]
    if c.get("memory"):
        args += ["--memory-limit", str(c["memory"])]
    if c.get("cpus"):
        args += ["--cpus", str(c["cpus"])]
    return args + [c["image"], cid, c["entrypoint"], *c["arguments"]]


def wait_not_running(cid, seconds):
    deadline = time.monotonic() + seconds
    while tasks().get(cid) == "RUNNING":
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop(record, signal_name, seconds):
    """`signal_name`, SIGKILL after `seconds`, then the task deleted and the host socket gone
    (Apple's relay removes it at stop)."""
    cid = record["snapshot"]["id"]
    if tasks().get(cid) == "RUNNING":
        ctr("tasks", "kill", "-s", signal_name, cid, check=False)
        if not wait_not_running(cid, seconds):
            ctr("tasks", "kill", "-s", "SIGKILL", cid, check=False)
            wait_not_running(cid, 10)
    ctr("tasks", "delete", cid, check=False)
    for s in record["create"]["sockets"]:
        if os.path.islink(s["host"]):
            os.unlink(s["host"])


def delete(record):
    cid = record["snapshot"]["id"]
    stop(record, "SIGKILL", 5)
    ctr("containers", "delete", cid, check=False)
    subprocess.run(["rm", "-rf", socket_dir(cid)], check=False)
