"""The locks that keep a second Inktrail process out of what only one may do: run the scheduler, migrate
the database at start-up, restore a backup. Kept here, apart from what takes them, so that the scheduler
(scheduling.py) and the restore (services/backup.py) share them without importing each other.

With SQLite each is a file lock in the instance folder; with PostgreSQL an advisory lock on these keys."""
from __future__ import annotations

SCHEDULER_LOCK_KEY = 0x1A7C_7EA1  # any fixed 64-bit numbers of ours
MIGRATION_LOCK_KEY = 0x1A7C_7EA2
SCHEDULER_LOCK_FILE = "scheduler.lock"  # holds the pid of the process running the scheduler
MIGRATION_LOCK_FILE = "migrate.lock"
