"""Node configuration read from the environment (BRIEF §4).

Kept apart from Django settings so the CLI can resolve paths before Django starts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def data_dir() -> Path:
    """KPCS_DATA_DIR: keys, secret and the default SQLite file live here (owner-only)."""
    path = Path(os.environ.get("KPCS_DATA_DIR", ".kpcs")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def database_url() -> str:
    url = os.environ.get("KPCS_DATABASE_URL", "").strip()
    return url or f"sqlite:///{data_dir() / 'kpcs.sqlite3'}"


def secret_key() -> str:
    """KPCS_SECRET_KEY, else a random key created once under the data dir (mode 0600)."""
    key = os.environ.get("KPCS_SECRET_KEY", "").strip()
    if key:
        return key
    path = data_dir() / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()
