"""Pseudonymization of patient identifiers at ingest.

A keyed hash (HMAC-SHA256) maps ``(study, raw_id)`` to a stable pseudonym, so reruns and
studies merge consistently while the raw identifier never leaves the ingest step. The key comes
from the environment variable ``KETAMINE_BZD_KEY`` or from a local key file (git-ignored,
outside ``results/``) that is created on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_ENV = "KETAMINE_BZD_KEY"
DEFAULT_KEY_FILE = Path(".ketamine_bzd_key")
PSEUDONYM_PREFIX = "P"


def load_key(key_file: str | Path = DEFAULT_KEY_FILE) -> bytes:
    """Return the pseudonymization key: env var first, else the key file (created if absent)."""
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    path = Path(key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two ingest jobs starting together must not write two different keys
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    key = path.read_text().strip()
    if not key:
        raise ValueError(f"pseudonymization key file {path} is empty")
    return key.encode()


def pseudonymize(study: str, raw_id: str, key: bytes) -> str:
    """Stable pseudonym ``P`` + 16 hex digits of HMAC-SHA256(key, "study:raw_id")."""
    digest = hmac.new(key, f"{study}:{raw_id}".encode(), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:16]
