#!/usr/bin/env python3
"""Build Berth's test images from Debian's busybox-static and push them to a
plain-HTTP registry with the Registry v2 API (stdlib only).

    scripts/build-test-images.py [--registry HOST:PORT] [--check] [--busybox PATH]

Images (all linux; built here because tests may not depend on a public registry):
  berth-test/busybox:1, :latest  OCI, one layer: busybox rootfs
  berth-test/layered:1           OCI, 4 layers, ~45 MB of incompressible data,
                                 exercises whiteouts (file and directory)
  berth-test/docker:1            Docker schema 2 media types, rootfs + marker
  berth-test/multi:1             OCI index: linux/arm64 (first), linux/amd64

Everything is deterministic (fixed mtimes/owners, sorted entries, seeded
PRNG, hand-written gzip header), so digests only change when this script, the
busybox-static package, or zlib's deflate output changes.

--check exits 0 iff every tag already resolves to the digest this script would
push, so callers can skip the (cheap, but not free) push step.
"""

import argparse
import hashlib
import http.client
import io
import json
import os
import random
import struct
import subprocess
import sys
import tarfile
import urllib.parse
import zlib

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MIB = 1024 * 1024


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj):
    # Sorted keys and no whitespace: the bytes (hence the digest) never depend
    # on dict ordering or the json module's defaults.
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def gzip_bytes(data):
    # gzip.compress() writes a header that differs between Python versions
    # (3.11 switched to zlib's own header, OS byte 3 instead of 255); writing
    # the header ourselves leaves zlib's deflate stream as the only variable.
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\xff"
    comp = zlib.compressobj(6, zlib.DEFLATED, -15, 9)
    body = comp.compress(data) + comp.flush()
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + trailer


# A layer spec is a list of entries: (path, kind, mode, payload), where kind is
# "dir", "file" (payload = bytes) or "symlink" (payload = target).
def make_tar(entries):
    buf = io.BytesIO()
    # USTAR keeps headers minimal (no PAX records with atime/ctime); every path
    # here fits its 100-byte name limit.
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, kind, mode, payload in sorted(entries, key=lambda e: e[0]):
            info = tarfile.TarInfo(path)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = mode
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = payload
                tar.addfile(info)
            else:
                info.type = tarfile.REGTYPE
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


class Layer:
    def __init__(self, entries):
        self.tar = make_tar(entries)
        self.diff_id = sha256(self.tar)
        self.blob = gzip_bytes(self.tar)
        self.digest = sha256(self.blob)
        self.size = len(self.blob)


def parents(path):
    """Directory entries for every ancestor of path (tar order needs them)."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def with_dirs(entries, modes=None):
    """Add missing ancestor directories (0755 unless listed in modes)."""
    modes = modes or {}
    have = {e[0] for e in entries}
    out = list(entries)
    for path, *_ in entries:
        for d in parents(path):
            if d not in have:
                have.add(d)
                out.append((d, "dir", modes.get(d, 0o755), None))
    return out


def rootfs_entries(busybox_path):
    with open(busybox_path, "rb") as f:
        busybox = f.read()
    # --list-full gives each applet's conventional location (bin/, sbin/,
    # usr/bin/, usr/sbin/), so shebangs such as /usr/bin/env resolve.
    listing = subprocess.run(
        [busybox_path, "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    entries = [("bin/busybox", "file", 0o755, busybox)]
    seen = {"bin/busybox"}
    for applet in sorted(set(listing)):
        applet = applet.strip("/")
        if applet in seen or not applet:
            continue
        seen.add(applet)
        entries.append((applet, "symlink", 0o777, "/bin/busybox"))
    dirs = {"etc": 0o755, "tmp": 0o1777, "root": 0o700, "proc": 0o555,
            "sys": 0o555, "dev": 0o755, "run": 0o755, "bin": 0o755,
            "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
            "usr/local": 0o755, "usr/local/bin": 0o755, "var": 0o755}
    entries += [(d, "dir", m, None) for d, m in dirs.items()]
    entries += [
        ("etc/passwd", "file", 0o644, b"root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", "file", 0o644, b"root:x:0:\n"),
    ]
    return with_dirs(entries, dirs)


def file_layer(files):
    """A layer holding small text files (path -> bytes)."""
    return Layer(with_dirs([(p, "file", 0o644, data) for p, data in files.items()]))


def config_blob(layers, arch="amd64", variant=None):
    cfg = {
        "architecture": arch,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": [PATH_ENV], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]},
    }
    if variant:
        cfg["variant"] = variant
    return canonical_json(cfg)


class Image:
    """One manifest (OCI or Docker schema 2) plus its blobs."""

    def __init__(self, layers, docker=False, arch="amd64", variant=None):
        self.layers = layers
        self.config = config_blob(layers, arch, variant)
        self.media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
        layer_type = DOCKER_LAYER if docker else OCI_LAYER
        manifest = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": {
                "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                "digest": sha256(self.config),
                "size": len(self.config),
            },
            "layers": [
                {"mediaType": layer_type, "digest": l.digest, "size": l.size}
                for l in layers
            ],
        }
        self.manifest = canonical_json(manifest)
        self.digest = sha256(self.manifest)
        self.platform = {"architecture": arch, "os": "linux"}
        if variant:
            self.platform["variant"] = variant

    def blobs(self):
        return [(l.digest, l.blob) for l in self.layers] + [(sha256(self.config), self.config)]

    def layer_bytes(self):
        return sum(l.size for l in self.layers)


class Index:
    def __init__(self, images):
        self.images = images
        self.media_type = OCI_INDEX
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": i.media_type, "digest": i.digest,
                 "size": len(i.manifest), "platform": i.platform}
                for i in images
            ],
        }
        self.manifest = canonical_json(index)
        self.digest = sha256(self.manifest)

    def layer_bytes(self):
        unique = {l.digest: l.size for i in self.images for l in i.layers}
        return sum(unique.values())


def build(busybox_path):
    """Return [(repository, [tags], Image|Index)] in push order."""
    rootfs = Layer(rootfs_entries(busybox_path))

    busybox = Image([rootfs])

    # Layers 2 and 3 are incompressible so the pull moves real bytes (progress
    # reporting, interrupted pulls); layer 3 whites out a file and a directory
    # that layer 2 added, which the unpacker must honour.
    rng = random.Random(0xBE57)
    blob_a = rng.randbytes(24 * MIB)
    blob_b = rng.randbytes(20 * MIB)
    layer2 = Layer(with_dirs([
        ("opt/blob-a", "file", 0o644, blob_a),
        ("opt/removed-by-whiteout", "file", 0o644, b"this file must not survive\n"),
        ("opt/dir-gone", "dir", 0o755, None),
        ("opt/dir-gone/file", "file", 0o644, b"this directory must not survive\n"),
    ]))
    layer3 = Layer(with_dirs([
        ("opt/blob-b", "file", 0o644, blob_b),
        ("opt/.wh.removed-by-whiteout", "file", 0o644, b""),
        ("opt/.wh.dir-gone", "file", 0o644, b""),
    ]))
    layer4 = file_layer({"etc/berth-layered-marker": b"layered-ok"})
    layered = Image([rootfs, layer2, layer3, layer4])

    docker = Image([rootfs, file_layer({"etc/berth-docker-marker": b"docker-ok"})], docker=True)

    arm64 = Image([file_layer({"etc/berth-platform": b"arm64"})], arch="arm64", variant="v8")
    amd64 = Image([rootfs, file_layer({"etc/berth-platform": b"amd64"})])
    multi = Index([arm64, amd64])

    return [
        ("berth-test/busybox", ["1", "latest"], busybox),
        ("berth-test/layered", ["1"], layered),
        ("berth-test/docker", ["1"], docker),
        ("berth-test/multi", ["1"], multi),
    ]


class Registry:
    def __init__(self, host):
        self.host = host
        self.conn = http.client.HTTPConnection(host, timeout=60)

    def request(self, method, path, body=None, headers=None):
        # One keep-alive connection; reconnect once if the server dropped it.
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                return resp.status, resp.headers, data
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def manifest_digest(self, repo, ref):
        status, headers, _ = self.request("HEAD", f"/v2/{repo}/manifests/{ref}",
                                          headers={"Accept": ACCEPT})
        return headers.get("Docker-Content-Digest") if status == 200 else None

    def has_blob(self, repo, digest):
        status, _, _ = self.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        return status == 200

    def push_blob(self, repo, digest, data):
        if self.has_blob(repo, digest):
            return False
        status, headers, body = self.request("POST", f"/v2/{repo}/blobs/uploads/",
                                             headers={"Content-Length": "0"})
        if status != 202:
            raise RuntimeError(f"start upload {repo}: HTTP {status} {body[:200]!r}")
        loc = urllib.parse.urlsplit(headers["Location"])
        # Location may be absolute and already carries the upload state in
        # its query (_state=...), which must be kept.
        query = (loc.query + "&" if loc.query else "") + "digest=" + urllib.parse.quote(digest)
        path = f"{loc.path}?{query}"
        status, _, body = self.request("PUT", path, body=data, headers={
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(data))})
        if status != 201:
            raise RuntimeError(f"upload {repo}@{digest}: HTTP {status} {body[:200]!r}")
        return True

    def push_manifest(self, repo, ref, media_type, data, digest):
        status, headers, body = self.request("PUT", f"/v2/{repo}/manifests/{ref}", body=data,
                                             headers={"Content-Type": media_type,
                                                      "Content-Length": str(len(data))})
        if status != 201:
            raise RuntimeError(f"put manifest {repo}:{ref}: HTTP {status} {body[:300]!r}")
        got = headers.get("Docker-Content-Digest")
        if got and got != digest:
            raise RuntimeError(f"{repo}:{ref}: registry says {got}, expected {digest}")


def push_image(reg, repo, image):
    for digest, data in image.blobs():
        reg.push_blob(repo, digest, data)
    reg.push_manifest(repo, image.digest, image.media_type, image.manifest, image.digest)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--registry",
                    default=os.environ.get("BERTH_TEST_REGISTRY") or "127.0.0.1:5000",
                    help="HOST:PORT of a plain-HTTP registry (default: $BERTH_TEST_REGISTRY "
                         "or 127.0.0.1:5000)")
    ap.add_argument("--busybox", default="/bin/busybox", help="static busybox binary")
    ap.add_argument("--check", action="store_true",
                    help="exit 0 iff every image is already in the registry with the "
                         "expected digest; push nothing")
    args = ap.parse_args()

    images = build(args.busybox)
    reg = Registry(args.registry)

    try:
        if args.check:
            missing = [f"{repo}:{tag}" for repo, tags, img in images for tag in tags
                       if reg.manifest_digest(repo, tag) != img.digest]
            for ref in missing:
                print(f"missing or outdated: {args.registry}/{ref}", file=sys.stderr)
            return 1 if missing else 0

        for repo, tags, img in images:
            current = {tag: reg.manifest_digest(repo, tag) for tag in tags}
            if any(d != img.digest for d in current.values()):
                children = img.images if isinstance(img, Index) else [img]
                for child in children:
                    push_image(reg, repo, child)
                for tag in tags:
                    reg.push_manifest(repo, tag, img.media_type, img.manifest, img.digest)
            for tag in tags:
                print(f"{args.registry}/{repo}:{tag}  {img.digest}  {img.layer_bytes()}")
    except (OSError, http.client.HTTPException) as e:
        print(f"error: registry {args.registry}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
