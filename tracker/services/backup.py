"""Backups and restores of the whole database, and the nightly backup's retention.

SQLite: the online backup API (sqlite3 Connection.backup) copies the live database page by page while the
app keeps serving; the copy goes to a temporary file beside the target, is switched from WAL to a plain
single-file database, checked with PRAGMA integrity_check and only then given its name. PostgreSQL:
pg_dump in its custom format (-Fc), checked with pg_restore --list.

What a backup holds: the database, which is everything the shop has on record (orders, jobs, the audit
trail, scans, shipments with the carriers' label files, users, hashed API tokens, alerts, queues). What it
does not hold, on purpose (docs/DEPLOY.md says so): config.toml, the instance folder's secret_key (losing
it only logs everyone out), etsy_tokens.json (a secret: reconnect Etsy instead) and instance/labels (copies
of labels the file printer wrote; the order page prints them again).

Artwork proofs' files (instance/proofs) are not in the database: each backup copies the ones not yet
copied into a `proofs` folder beside the backup file (a file never changes once written, so the folder
grows with new proofs only), and a restore brings back any the instance folder lacks.

A restore replaces the database with a backup's, after taking a backup of the current one (so a restore
can itself be undone). It refuses while Inktrail runs: the scheduler's lock is held, or (PostgreSQL) other
connections are open to the database.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy.engine import make_url

from ..extensions import db
from ..locks import MIGRATION_LOCK_FILE, SCHEDULER_LOCK_FILE, SCHEDULER_LOCK_KEY
from ..models import utcnow
from ..settings import current_settings

log = logging.getLogger("tracker.backup")

# "inktrail-20260302-030000Z.sqlite3": the UTC time the backup was taken. Retention only ever removes
# files named exactly like this; anything else in the folder is not ours.
BACKUP_RE = re.compile(r"inktrail-(?P<stamp>\d{8}-\d{6})Z\.(?P<ext>sqlite3|pgdump)")
EXTENSIONS = {"sqlite": "sqlite3", "postgresql": "pgdump"}
STEP_PAGES = 1024  # 4 MB of 4 KB pages per step of the SQLite online backup
STEP_PAUSE = 0.005  # seconds between steps: room for the app's writers (they matter without WAL)
MAX_RESTARTS = 3   # the backup starts over when another connection writes between steps; then see below
KEEP_AT_LEAST = 3  # retention never removes the newest three backups, however old (backups that stopped)
PG_INSTALL_HINT = "install the PostgreSQL client tools (Debian/Ubuntu: sudo apt install postgresql-client)"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why in plain words."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class BackupResult:
    path: Path
    kind: str  # sqlite | postgresql
    size: int
    seconds: float
    removed: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        return f"Backup written to {self.path} ({_size(self.size)}, {self.seconds:.1f} s)."


@dataclass
class RestoreResult:
    source: Path
    kind: str
    safety_copy: Path | None
    revision: str | None
    seconds: float


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# -- where -----------------------------------------------------------------------------------------

def database_kind() -> str:
    name = db.engine.url.get_backend_name()
    if name not in EXTENSIONS:
        raise BackupError(f"backups work with SQLite and PostgreSQL, not {name}")
    return name


def backup_directory() -> Path:
    """[backup] directory; relative to the instance folder; default instance/backups."""
    configured = current_settings().backup.directory
    instance = Path(current_app.instance_path)
    return instance / "backups" if not configured else (instance / Path(configured).expanduser())


def backup_name(now: dt.datetime, kind: str) -> str:
    return f"inktrail-{now.astimezone(dt.timezone.utc):%Y%m%d-%H%M%S}Z.{EXTENSIONS[kind]}"


def _sqlite_path() -> Path:
    name = db.engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError("this SQLite database is not a plain file, so it cannot be backed up")
    return Path(name).resolve()


def _target(given: str | Path, now: dt.datetime, kind: str) -> Path:
    """A folder (existing, or written with a trailing slash) gets a dated file name; anything else is the
    file to write, in a folder that must exist and be writable."""
    path = Path(given).expanduser()
    if path.is_dir() or str(given).endswith(("/", os.sep)):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackupError(f"cannot create the folder {path}: {exc.strerror or exc}") from None
        target = (path / backup_name(now, kind)).resolve()
        while target.exists():  # never over another backup (a restore's safety copy in the same second)
            now += dt.timedelta(seconds=1)
            target = (path / backup_name(now, kind)).resolve()
        if not os.access(path, os.W_OK):
            raise BackupError(f"cannot write to the folder {path}: permission denied")
        return target
    if not path.parent.is_dir():
        raise BackupError(f"the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise BackupError(f"cannot write to the folder {path.parent}: permission denied")
    return path.resolve()


# -- backup ----------------------------------------------------------------------------------------

def create_backup(path: str | Path, *, now: dt.datetime | None = None, step_pages: int = STEP_PAGES) -> BackupResult:
    """Backs the whole database up to `path` (a file, or a folder for a dated name). The file appears
    under its name only once it is complete and checked."""
    started = time.perf_counter()
    kind = database_kind()
    now = now or utcnow()
    target = _target(path, now, kind)
    if kind == "sqlite" and target == _sqlite_path():
        raise BackupError(f"{target} is the live database itself; name another file or a folder")
    if target.is_dir():
        raise BackupError(f"{target} is a folder")
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        if kind == "sqlite":
            _sqlite_backup(_sqlite_path(), tmp, step_pages=step_pages)
        else:
            _pg_dump(tmp)
        _fsync(tmp)
        os.replace(tmp, target)
    except PermissionError:
        raise BackupError(f"cannot write to {target.parent}: permission denied") from None
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    copied = copy_proof_files(_proofs_folder(), target.parent / "proofs")
    result = BackupResult(target, kind, target.stat().st_size, time.perf_counter() - started)
    log.info("backup: %s%s", result.summary(), f" {copied} new proof file(s) copied." if copied else "")
    return result


def _proofs_folder() -> Path:
    from .proofs import FOLDER

    return Path(current_app.instance_path) / FOLDER


def copy_proof_files(source: Path, dest: Path) -> int:
    """Copies the proof files of `source` that `dest` lacks (a proof's file never changes: its name is
    new for each upload). Files being written (.part) are skipped. Returns how many were copied."""
    try:
        names = [p for p in source.iterdir() if p.is_file() and not p.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    copied = 0
    for path in names:
        target = dest / path.name
        if target.exists():
            continue
        dest.mkdir(parents=True, exist_ok=True)
        tmp = dest / f".{path.name}.part"
        try:
            shutil.copyfile(path, tmp)
            _fsync(tmp)
            os.replace(tmp, target)
            copied += 1
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise BackupError(f"cannot copy the proof file {path.name} to {dest}: {exc.strerror or exc}") from None
    return copied


class _Restarted(Exception):
    pass


def _sqlite_backup(source: Path, dest: Path, *, step_pages: int) -> None:
    if not source.exists():
        raise BackupError(f"the database file {source} does not exist")
    try:
        src = sqlite3.connect(source, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open the database {source}: {exc}") from None
    try:
        dst = sqlite3.connect(dest)
    except sqlite3.Error as exc:
        src.close()
        raise BackupError(f"cannot write a file in {dest.parent}: {exc}") from None
    try:
        src.execute("PRAGMA busy_timeout=30000")
        restarts, last = 0, None

        def progress(_status, remaining, _total):
            # Another connection wrote between two steps: SQLite starts the copy over (remaining grows).
            nonlocal restarts, last
            if last is not None and remaining > last:
                restarts += 1
                if restarts >= MAX_RESTARTS:
                    raise _Restarted()
            last = remaining
            if remaining:
                time.sleep(STEP_PAUSE)  # sqlite3 pauses only when a step meets a lock; give writers a turn

        try:
            src.backup(dst, pages=step_pages, progress=progress)
        except _Restarted:
            # A busy shop keeps writing between steps. Copy in one step instead: one read transaction, a
            # snapshot. The live database is in WAL mode, where a reader never blocks the writers (the
            # WAL file only grows a little until the copy ends).
            log.info("backup: the database changed during %s restarts; copying in one step", restarts)
            src.backup(dst, pages=-1)
        # The copy carries the live file's WAL flag; a backup is one self-contained file.
        dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"the SQLite backup failed: {exc}") from None
    finally:
        dst.close()
        src.close()
    problem = check_sqlite_file(dest)
    if problem:
        raise BackupError(f"the backup did not pass its check ({problem}); nothing was kept")


def check_sqlite_file(path: Path) -> str | None:
    """None when `path` is a sound SQLite database of ours, else what is wrong with it."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return f"cannot be opened: {exc}"
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if rows != ["ok"]:
            return "integrity check: " + "; ".join(rows[:3])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"orders", "jobs", "events"} <= tables:
            return "it is an SQLite database but not an Inktrail one (no orders, jobs and events tables)"
        return None
    except sqlite3.DatabaseError as exc:
        return f"not an SQLite database ({exc})"
    finally:
        conn.close()


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


# -- PostgreSQL ------------------------------------------------------------------------------------

def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed on this computer: {PG_INSTALL_HINT}")
    return found


def _libpq():
    """The database as a libpq URL without the password, and an environment that carries it (PGPASSWORD),
    so the password never shows in a process list or an error message."""
    url = make_url(str(db.engine.url.render_as_string(hide_password=False)))
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict, what: str) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit code {done.returncode}"
        raise BackupError(f"{what} failed: {detail}")
    return done


def _pg_dump(dest: Path) -> None:
    conninfo, env = _libpq()
    _run([_pg_tool("pg_dump"), "--format=custom", "--file", str(dest), "--dbname", conninfo], env, "pg_dump")
    _run([_pg_tool("pg_restore"), "--list", str(dest)], env, "checking the dump (pg_restore --list)")


def _pg_dump_tables(source: Path, env: dict) -> set[str]:
    listing = _run([_pg_tool("pg_restore"), "--list", str(source)], env,
                   f"reading {source} (is it a backup made by 'tracker backup'?)").stdout
    return {m.group(1) for m in re.finditer(r"^\d+; \d+ \d+ TABLE \S+ (\S+) ", listing, re.M)}


def _pg_dump_revision(source: Path, env: dict) -> str | None:
    """The migration version recorded in a dump (its alembic_version row), read without restoring it."""
    out = _run([_pg_tool("pg_restore"), "--data-only", "--table=alembic_version", "--file=-", str(source)], env,
               f"reading {source}").stdout
    m = re.search(r"^COPY \S*alembic_version \(version_num\) FROM stdin;\n([^\n\\]+)\n", out, re.M)
    return m.group(1).strip() if m else None


# -- retention -------------------------------------------------------------------------------------

def backups_in(directory: Path) -> list[tuple[dt.datetime, Path]]:
    """Our backup files in `directory`, newest first."""
    found = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for p in directory.iterdir():
            m = BACKUP_RE.fullmatch(p.name)
            if m and p.is_file():
                at = dt.datetime.strptime(m.group("stamp"), "%Y%m%d-%H%M%S").replace(tzinfo=dt.timezone.utc)
                found.append((at, p))
    return sorted(found, reverse=True)


def prune_backups(directory: Path, keep_days: int, now: dt.datetime) -> list[Path]:
    """Removes our backups older than keep_days, always keeping the newest KEEP_AT_LEAST."""
    cutoff = now - dt.timedelta(days=keep_days)
    removed = []
    for at, p in backups_in(directory)[KEEP_AT_LEAST:]:
        if at < cutoff:
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def backup_to_folder(now: dt.datetime | None = None) -> BackupResult:
    """A dated backup in the [backup] folder (created when missing)."""
    directory = backup_directory()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create the backup folder {directory}: {exc.strerror or exc}") from None
    return create_backup(directory, now=now or utcnow())


def nightly_backup(now: dt.datetime | None = None) -> dict:
    """The "backup" job: a dated backup in the backup folder, then retention ([backup] keep_days)."""
    now = now or utcnow()
    directory = backup_directory()
    result = backup_to_folder(now)
    removed = prune_backups(directory, current_settings().backup.keep_days, now)
    log.info("backup: removed %s old backup%s", len(removed), "" if len(removed) == 1 else "s")
    return {"file": result.path.name, "bytes": result.size, "removed": len(removed)}


def latest_backup() -> tuple[dt.datetime, Path] | None:
    found = backups_in(backup_directory())
    return found[0] if found else None


# -- restore ---------------------------------------------------------------------------------------

def _known_revisions() -> set[str]:
    versions = Path(current_app.root_path) / "migrations" / "versions"
    found = set()
    for p in versions.glob("*.py"):
        m = re.search(r"^revision\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", p.read_text(encoding="utf-8"), re.M)
        if m:
            found.add(m.group(1))
    return found


def _check_revision(revision: str | None) -> None:
    if revision is not None and revision not in _known_revisions():
        raise BackupError(f"the backup was made by a newer Inktrail (database version {revision}); "
                          "upgrade Inktrail first, then restore")


@contextlib.contextmanager
def _no_server_sqlite():
    """Holds the scheduler lock (the running server holds it) and the start-up migration lock (a server
    starting now waits on it) for the whole restore."""
    instance = Path(current_app.instance_path)
    with open(instance / SCHEDULER_LOCK_FILE, "a+") as sched, open(instance / MIGRATION_LOCK_FILE, "a+") as migrate:
        for fh in (sched, migrate):
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise BackupError("Inktrail is running (it holds the scheduler lock): stop it first "
                                  "(sudo systemctl stop inktrail), then restore") from None
        try:
            yield
        finally:
            for fh in (migrate, sched):
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def restore_backup(source: Path) -> RestoreResult:
    """Replaces the whole database with the backup's. The current database is backed up first, to the
    backup folder, so the restore can be undone."""
    started = time.perf_counter()
    kind = database_kind()
    source = Path(source).expanduser().resolve()
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    result = _restore_sqlite(source, started) if kind == "sqlite" else _restore_pg(source, started)
    copy_proof_files(source.parent / "proofs", _proofs_folder())  # the proofs' files the instance lacks
    return result


def _restore_sqlite(source: Path, started: float) -> RestoreResult:
    live = _sqlite_path()
    if source == live:
        raise BackupError(f"{source} is the live database itself")
    with open(source, "rb") as fh:
        head = fh.read(5)
    if source.suffix == ".pgdump" or head == b"PGDMP":
        raise BackupError(f"{source} is a PostgreSQL backup, and this Inktrail uses SQLite")
    problem = check_sqlite_file(source)
    if problem:
        raise BackupError(f"{source} cannot be restored: {problem}")
    conn = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        row = None  # a database made without migrations (the test suite's)
    finally:
        conn.close()
    revision = row[0] if row else None
    _check_revision(revision)

    with _no_server_sqlite():
        db.session.remove()
        db.engine.dispose()  # this process keeps no connection of its own open to the live file
        safety = None
        if live.exists():
            safety = backup_to_folder().path
        src = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
        dst = sqlite3.connect(live, timeout=30)
        try:
            # One step: the whole copy is one transaction of the live database (its WAL or journal makes it
            # all or nothing, even if the computer stops half-way).
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=WAL")
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            rows = [r[0] for r in dst.execute("PRAGMA integrity_check")]
        except sqlite3.Error as exc:
            raise BackupError(f"the restore failed, the database is as it was: {exc}") from None
        finally:
            dst.close()
            src.close()
        if rows != ["ok"]:
            raise BackupError(f"the restored database failed its check: {'; '.join(rows[:3])}; "
                              f"restore {safety} to go back")
    result = RestoreResult(source, "sqlite", safety, revision, time.perf_counter() - started)
    log.info("restore: %s restored (the database before it is in %s)", source, safety)
    return result


def _restore_pg(source: Path, started: float) -> RestoreResult:
    from sqlalchemy import text

    with open(source, "rb") as fh:
        head = fh.read(16)
    if source.suffix == ".sqlite3" or head.startswith(b"SQLite format 3"):
        raise BackupError(f"{source} is an SQLite backup, and this Inktrail uses PostgreSQL")
    if not head.startswith(b"PGDMP"):
        raise BackupError(f"{source} cannot be restored: it is not a PostgreSQL backup made by 'tracker backup' "
                          "(pg_dump's custom format)")
    conninfo, env = _libpq()
    dumped = _pg_dump_tables(source, env)
    if not {"orders", "jobs", "events"} <= dumped:
        raise BackupError(f"{source} is not an Inktrail backup (no orders, jobs and events tables in it)")
    revision = _pg_dump_revision(source, env) if "alembic_version" in dumped else None
    _check_revision(revision)

    db.session.remove()
    db.engine.dispose()
    with db.engine.connect() as conn:
        others = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND pid <> pg_backend_pid()")).scalar()
        if not conn.execute(text(f"SELECT pg_try_advisory_lock({SCHEDULER_LOCK_KEY})")).scalar():
            raise BackupError("Inktrail's scheduler is running (it holds its lock in the database): stop every "
                              "Inktrail process first, then restore")
        conn.execute(text(f"SELECT pg_advisory_unlock({SCHEDULER_LOCK_KEY})"))
        conn.commit()
    if others:
        raise BackupError(f"{others} other connection{'s are' if others > 1 else ' is'} open to the database: "
                          "stop every Inktrail process (web and scheduler) first, then restore")
    safety = backup_to_folder().path
    db.engine.dispose()
    _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          "--exit-on-error", "--dbname", conninfo, str(source)], env,
         f"pg_restore (the database is as it was; the backup taken just before is {safety})")
    # Tables of ours that the backup does not have (it is older than this Inktrail): drop them, so the
    # next start's upgrade creates them afresh from the backup's version.
    extra = [t for t in db.metadata.tables if t not in dumped]
    if extra:
        with db.engine.begin() as conn:
            for name in extra:
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
    db.engine.dispose()
    return RestoreResult(source, "postgresql", safety, revision, time.perf_counter() - started)
