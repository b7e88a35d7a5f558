"""The fake's settings, from its environment (documented in ../container)."""

import os

HERE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
FIXTURES = os.environ.get("FAKE_CONTAINER_FIXTURES") or os.path.join(HERE, "..", "fixtures")
VERSION = os.environ.get("FAKE_CONTAINER_VERSION") or "1.2"
STATE = os.environ.get("FAKE_CONTAINER_STATE")
SYSTEM = os.environ.get("FAKE_CONTAINER_SYSTEM") or "running"
FAIL = set(filter(None, (os.environ.get("FAKE_CONTAINER_FAIL") or "").split(",")))
HANG = set(filter(None, (os.environ.get("FAKE_CONTAINER_HANG") or "").split(",")))
CTR = os.environ.get("FAKE_CONTAINER_CTR")
NS = os.environ.get("FAKE_CONTAINER_CTR_NAMESPACE") or "berth-apple-fake"
RUNC_ROOT = os.environ.get("FAKE_CONTAINER_CTR_RUNC_ROOT")
LOG = os.environ.get("FAKE_CONTAINER_LOG")
