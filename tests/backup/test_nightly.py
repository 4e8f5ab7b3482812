"""The nightly "backup" job with frozen time: a dated backup each night at [backup] at (the shop's time
zone), retention of [backup] keep_days that removes only our own backup files and always keeps the newest
three, and a failure recorded on the job for /healthz."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests.backup.conftest import all_rows
from tests.conftest import PG_URL, build_app, closing
from tests.factories import make_order
from tracker.extensions import db
from tracker.jobs import JOBS, run_job
from tracker.models import SchedulerJob
from tracker.scheduling import build_scheduler
from tracker.services import backup as backups
from tracker.settings import Backup, ConfigError

EXT = "pgdump" if PG_URL else "sqlite3"
UTC = dt.timezone.utc
# 01:15 in Denver is 08:15 UTC in March (MST, before the switch on March 8) and 07:15 UTC after it.
NIGHT1 = dt.datetime(2026, 3, 1, 8, 15, tzinfo=UTC)


@pytest.fixture
def nightly(tmp_path):
    app = build_app(tmp_path, config={"backup": {"at": "01:15", "keep_days": 3}})
    yield from closing(app)


def names(folder) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_the_job_is_daily_at_the_configured_shop_time(nightly):
    assert JOBS["backup"].daily_at is not None
    scheduler = build_scheduler(nightly)
    trigger = scheduler.get_job("backup").trigger
    assert (str(trigger.fields[5]), str(trigger.fields[6]), str(trigger.timezone)) == ("1", "15", "America/Denver")
    with nightly.app_context():
        assert JOBS["backup"].next_run(NIGHT1 - dt.timedelta(minutes=1)) == NIGHT1
        assert JOBS["backup"].next_run(NIGHT1) == NIGHT1 + dt.timedelta(days=1)


def test_nightly_backups_and_retention_with_frozen_time(nightly, tmp_path):
    folder = tmp_path / "instance" / "backups"
    folder.mkdir(parents=True)
    # What is not ours stays, whatever its age or name.
    foreign = {"shop-notes.txt", "inktrail-20250101-000000Z.sqlite3.old", "inktrail-2025.sqlite3",
               "copy of inktrail-20250101-000000Z.sqlite3"}
    for name in foreign:
        (folder / name).write_text("not ours")
    with nightly.app_context():
        make_order()
        made = []
        for night in range(7):
            at = NIGHT1 + dt.timedelta(days=night)
            with time_machine.travel(at, tick=False):
                result = run_job("backup")
            made.append(f"inktrail-{at:%Y%m%d-%H%M%S}Z.{EXT}")
            assert result == {"file": made[-1], "bytes": (folder / made[-1]).stat().st_size,
                              "removed": 1 if night >= 4 else 0}
        # keep_days 3 on the 7th night (March 7, 08:15 UTC): March 4's backup is exactly 3 days old and stays.
        assert names(folder) == foreign | set(made[3:])
        job = db.session.get(SchedulerJob, "backup")
        assert job.runs == 7 and job.last_error is None
        # The next run: 01:15 in Denver on March 8, the day the clocks change (MDT from 02:00): 08:15 UTC.
        assert job.next_run_at == dt.datetime(2026, 3, 8, 8, 15, tzinfo=UTC)

        # Backups stopped for a month: the next night keeps the newest three, however old.
        late = NIGHT1 + dt.timedelta(days=40)
        with time_machine.travel(late, tick=False):
            assert run_job("backup")["removed"] == 2
        assert names(folder) == foreign | {made[-2], made[-1], f"inktrail-{late:%Y%m%d-%H%M%S}Z.{EXT}"}
        if not PG_URL:
            assert backups.check_sqlite_file(folder / made[-1]) is None


def test_a_failed_backup_is_recorded_on_the_job(tmp_path):
    (tmp_path / "a-file").write_text("")
    app = build_app(tmp_path, config={"backup": {"directory": str(tmp_path / "a-file" / "backups")}})
    with app.app_context():
        before = all_rows()
        run_job("backup", scheduled=True)  # a scheduled run logs and records; it never raises
        job = db.session.get(SchedulerJob, "backup")
        assert job.runs == 1
        folder = tmp_path / "a-file" / "backups"
        assert job.last_error.startswith(f"BackupError: cannot create the backup folder {folder}")
        assert all_rows()["orders"] == before["orders"]
        db.session.remove()
        db.engine.dispose()


def test_a_relative_folder_is_inside_the_instance_folder(tmp_path):
    app = build_app(tmp_path, config={"backup": {"directory": "nightly"}})
    with app.app_context():
        assert backups.backup_directory() == tmp_path / "instance" / "nightly"
        with time_machine.travel(NIGHT1, tick=False):
            assert run_job("backup")["file"] == f"inktrail-20260301-081500Z.{EXT}"
        assert names(tmp_path / "instance" / "nightly") == {f"inktrail-20260301-081500Z.{EXT}"}
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("section, message", [
    ({"keep_days": 0}, "config: backup.keep_days: must be between 1 and 3650, got 0"),
    ({"at": "25:00"}, "config: backup.at: must be a time like \"07:30\" (24-hour clock), got '25:00'"),
    ({"directory": ""}, "config: backup.directory: must be a non-empty string, got ''"),
    ({"keep": 3}, "config: backup.keep: unknown key (allowed: at, directory, keep_days)"),
])
def test_bad_backup_settings_name_the_key(tmp_path, section, message):
    with pytest.raises(ConfigError) as err:
        build_app(tmp_path, config={"backup": section})
    assert str(err.value) == message


def test_the_commented_backup_example_in_config_toml_loads(tmp_path):
    from pathlib import Path

    from tracker.settings import load_settings

    lines = (Path(__file__).resolve().parents[2] / "config.toml").read_text(encoding="utf-8").splitlines()
    start = lines.index("# [backup]")
    example = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        example.append(line[2:])
    (tmp_path / "config.toml").write_text("\n".join(example), encoding="utf-8")
    settings = load_settings(tmp_path / "instance", tmp_path / "config.toml")
    assert settings.backup == Backup(directory="/mnt/backup-disk/inktrail", at=dt.time(2, 30), keep_days=14)
