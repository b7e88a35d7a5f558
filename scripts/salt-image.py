#!/usr/bin/env python3
"""Make cold-pull copies of an image for the benchmark and the pull tests (stdlib only).

containerd's content store is shared between namespaces: a blob another
namespace already holds is never downloaded again, only linked. A fresh
namespace is therefore NOT a cold pull, so every timed pull gets its own
"salted" copy of the image instead: each gzip layer gets a different gzip
header MTIME (4 bytes, not covered by any checksum), and the config a
label, so every layer blob, the config and the manifest have digests nobody
has seen, while the unpacked contents (diff ids) stay byte-identical.

    salt-image.py push  --source HOST:PORT/REPO:TAG --count N --state FILE
        pushes N copies as HOST:PORT/berth-bench/<run>:<i> and prints their
        references, one a line; FILE records what was pushed.
        With --wrong-diff-id N the config names a wrong diff id for layer N
        (0: the bottom one), so unpacking that layer fails (the pull tests).
        With --drop-diff-id the config lists one layer fewer than the manifest.
        With --corrupt-layer N --storage DIR (the registry's filesystem root) one
        byte of layer N's stored file is changed after the push, so the registry
        serves bytes that do not match the layer's digest (the pull tests).
    salt-image.py clean --state FILE [--storage DIR]
        deletes the copies through the registry API and, with --storage (the
        registry's filesystem root directory), also their blob files, which
        the API only unlinks.

The registry must speak plain HTTP (the local test registry does).
"""

import argparse
import hashlib
import http.client
import json
import os
import shutil
import struct
import sys
import time
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
GZIP_TYPES = {
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
}


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_ref(ref):
    """HOST[:PORT]/REPO[:TAG|@DIGEST] -> (host, repo, reference)."""
    host, _, rest = ref.partition("/")
    if not rest or not ("." in host or ":" in host or host == "localhost"):
        sys.exit(f"salt-image: {ref!r}: need HOST:PORT/REPO[:TAG] of a local registry")
    if "@" in rest:
        repo, _, reference = rest.partition("@")
    else:
        repo, sep, tag = rest.rpartition(":")
        if not sep or "/" in tag:
            repo, tag = rest, "latest"
        reference = tag
    return host, repo, reference


class Registry:
    def __init__(self, host):
        self.host = host
        self.conn = http.client.HTTPConnection(host, timeout=120)

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                return resp.status, resp.headers, resp.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, timeout=120)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path, what, headers=None):
        status, hdrs, data = self.request("GET", path, headers=headers)
        if status != 200:
            sys.exit(f"salt-image: GET {what}: HTTP {status} {data[:200]!r}")
        return hdrs, data

    def push_blob(self, repo, digest, data):
        status, headers, body = self.request(
            "POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
        if status != 202:
            sys.exit(f"salt-image: start upload {repo}: HTTP {status} {body[:200]!r}")
        loc = urllib.parse.urlsplit(headers["Location"])
        query = (loc.query + "&" if loc.query else "") + "digest=" + urllib.parse.quote(digest)
        status, _, body = self.request("PUT", f"{loc.path}?{query}", body=data, headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        if status != 201:
            sys.exit(f"salt-image: upload {repo}@{digest}: HTTP {status} {body[:200]!r}")

    def push_manifest(self, repo, ref, media_type, data):
        status, _, body = self.request("PUT", f"/v2/{repo}/manifests/{ref}", body=data, headers={
            "Content-Type": media_type, "Content-Length": str(len(data))})
        if status != 201:
            sys.exit(f"salt-image: put manifest {repo}:{ref}: HTTP {status} {body[:300]!r}")


def resolve_manifest(reg, repo, reference):
    """The linux/amd64 image manifest behind reference: (media_type, manifest dict)."""
    hdrs, data = reg.get(f"/v2/{repo}/manifests/{reference}", f"{repo}:{reference}",
                         {"Accept": ACCEPT})
    doc = json.loads(data)
    media_type = doc.get("mediaType") or hdrs.get("Content-Type", "").split(";")[0]
    if media_type in (OCI_INDEX, DOCKER_LIST):
        pick = [m for m in doc.get("manifests", [])
                if m.get("platform", {}).get("os") == "linux"
                and m.get("platform", {}).get("architecture") == "amd64"]
        if not pick:
            sys.exit(f"salt-image: {repo}:{reference} has no linux/amd64 manifest")
        return resolve_manifest(reg, repo, pick[0]["digest"])
    if media_type not in (OCI_MANIFEST, DOCKER_MANIFEST):
        sys.exit(f"salt-image: {repo}:{reference}: unsupported manifest type {media_type!r}")
    return media_type, doc


def salt_gzip(blob, salt):
    # RFC 1952: ID1 ID2 CM FLG MTIME(4) XFL OS. FHCRC (FLG bit 1) would cover
    # the header; refuse rather than recompute it.
    if len(blob) < 10 or blob[:3] != b"\x1f\x8b\x08" or blob[3] & 0x02:
        return None
    return blob[:4] + struct.pack("<I", salt) + blob[8:]


def cmd_push(args):
    host, repo, reference = parse_ref(args.source)
    reg = Registry(host)
    media_type, manifest = resolve_manifest(reg, repo, reference)
    _, config = reg.get(f"/v2/{repo}/blobs/{manifest['config']['digest']}", "config")
    config_doc = json.loads(config)
    layers = []
    for l in manifest["layers"]:
        if l["mediaType"] not in GZIP_TYPES:
            sys.exit(f"salt-image: layer {l['digest']} is {l['mediaType']}; only gzip layers "
                     "can be salted (use --warm to benchmark without cold copies)")
        _, blob = reg.get(f"/v2/{repo}/blobs/{l['digest']}", f"layer {l['digest']}")
        layers.append(blob)

    run = args.run or f"{os.getpid()}-{int(time.time())}"
    out_repo = f"berth-bench/{run}"
    state = {"registry": host, "repo": out_repo, "manifests": [], "blobs": []}
    refs = []
    for i in range(args.count):
        salt = int.from_bytes(hashlib.sha256(f"{run}/{i}".encode()).digest()[:4], "little") or 1
        new = json.loads(json.dumps(manifest))
        for desc, blob in zip(new["layers"], layers):
            salted = salt_gzip(blob, salt)
            if salted is None:
                sys.exit(f"salt-image: layer {desc['digest']} is not a plain gzip stream")
            desc["digest"] = sha256(salted)
            reg.push_blob(out_repo, desc["digest"], salted)
            state["blobs"].append(desc["digest"])
        if args.corrupt_layer is not None:
            corrupt_stored(args.storage, new["layers"][args.corrupt_layer]["digest"])
        cfg = json.loads(json.dumps(config_doc))
        cfg.setdefault("config", {})
        labels = cfg["config"].get("Labels") or {}
        labels["berth.bench.salt"] = f"{run}/{i}"
        cfg["config"]["Labels"] = labels
        if args.wrong_diff_id is not None:
            cfg["rootfs"]["diff_ids"][args.wrong_diff_id] = sha256(b"not this layer")
        if args.drop_diff_id:
            cfg["rootfs"]["diff_ids"].pop()
        cfg_bytes = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
        new["config"]["digest"] = sha256(cfg_bytes)
        new["config"]["size"] = len(cfg_bytes)
        reg.push_blob(out_repo, new["config"]["digest"], cfg_bytes)
        state["blobs"].append(new["config"]["digest"])
        body = json.dumps(new, sort_keys=True, separators=(",", ":")).encode()
        reg.push_manifest(out_repo, str(i), media_type, body)
        state["manifests"].append(sha256(body))
        refs.append(f"{host}/{out_repo}:{i}")
        # Keep the state file current so a cleanup after Ctrl-C finds everything.
        with open(args.state, "w") as f:
            json.dump(state, f)
    print("\n".join(refs))
    return 0


def corrupt_stored(storage, digest):
    """Flips one byte in the middle of the registry's file for `digest` (same size)."""
    if not storage:
        sys.exit("salt-image: --corrupt-layer needs --storage")
    hexd = digest.split(":", 1)[1]
    path = os.path.join(storage, "docker", "registry", "v2", "blobs", "sha256", hexd[:2], hexd,
                        "data")
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))


def cmd_clean(args):
    try:
        with open(args.state) as f:
            state = json.load(f)
    except FileNotFoundError:
        return 0
    reg = Registry(state["registry"])
    repo = state["repo"]
    for d in state["manifests"]:
        reg.request("DELETE", f"/v2/{repo}/manifests/{d}")
    for d in state["blobs"]:
        reg.request("DELETE", f"/v2/{repo}/blobs/{d}")
    if args.storage:
        # The API only removes the repository's links; the data stays until a
        # registry garbage-collect. These digests are ours alone (salted), so
        # removing their files is safe.
        v2 = os.path.join(args.storage, "docker", "registry", "v2")
        for d in state["manifests"] + state["blobs"]:
            hexd = d.split(":", 1)[1]
            shutil.rmtree(os.path.join(v2, "blobs", "sha256", hexd[:2], hexd), ignore_errors=True)
        shutil.rmtree(os.path.join(v2, "repositories", *repo.split("/")), ignore_errors=True)
        parent = os.path.join(v2, "repositories", "berth-bench")
        try:
            os.rmdir(parent)
        except OSError:
            pass
    os.unlink(args.state)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("push")
    p.add_argument("--source", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--run", help="name for this batch (default: pid-time)")
    p.add_argument("--wrong-diff-id", type=int, metavar="N",
                   help="the config names a wrong diff id for layer N (0: the bottom one)")
    p.add_argument("--drop-diff-id", action="store_true",
                   help="the config names one diff id fewer than the manifest has layers")
    p.add_argument("--corrupt-layer", type=int, metavar="N",
                   help="change a byte of layer N's file in the registry's --storage")
    p.add_argument("--storage", help="the registry's filesystem root (for --corrupt-layer)")
    c = sub.add_parser("clean")
    c.add_argument("--state", required=True)
    c.add_argument("--storage")
    args = ap.parse_args()
    return cmd_push(args) if args.cmd == "push" else cmd_clean(args)


if __name__ == "__main__":
    sys.exit(main())
