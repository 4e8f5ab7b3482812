"""`flask --app app tracker import-csv FILE [--dry-run]` (contract), being built for issue 8."""
from __future__ import annotations

from .cli import tracker_cli  # noqa: F401 (commands are added to the `tracker` group)
