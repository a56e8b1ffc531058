"""Where nlquery keeps its files: ``$NLQUERY_HOME``, else the platform's data dir."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def home() -> Path:
    """The nlquery home directory, created on first use."""
    configured = os.environ.get("NLQUERY_HOME")
    path = Path(configured).expanduser() if configured else Path(platformdirs.user_data_dir("nlquery"))
    path.mkdir(parents=True, exist_ok=True)
    return path
