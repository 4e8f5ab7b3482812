"""Stage stays: how long each job and each order stayed in each stage, derived from the audit trail.

A *stay* is one subject (a job, or the order itself) in one stage from the move that put it there
(`entered_at`) to the next move (`left_at`, with `ended_by` the stage it left for); the last stay of a
subject is open (`left_at` None). The rules, in the shop's words:

- a job's own moves (a scan, a drag on the board) end its stay and begin the next;
- an order's moves begin and end the order's stays; when the order is packed, unpacked, moved on as a
  whole or cancelled (one event for the order), every job follows it into the new stage;
- the order's first event (it was received) places the jobs made with it; a job added later has its own
  first event;
- events that change no stage (a note, a QC fail noted while the job stays on press) are not moves.

`StayBook` applies these rules to one order's events in time order. The move service keeps the
`stage_stays` table up to date with it (services/stays.py), event by event in the same transaction; a
rebuild replays an order's events through the same book. Reports then read stays by date range.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable, Iterable, Protocol

from .lifecycle import CANCELLED


class StayLike(Protocol):
    job_id: int | None
    stage: str
    entered_at: dt.datetime
    left_at: dt.datetime | None
    ended_by: str | None


class EventLike(Protocol):
    job_id: int | None
    at: dt.datetime
    kind: str
    from_stage: str | None
    to_stage: str | None
    scan_id: int | None


def is_move(ev: EventLike) -> bool:
    return ev.to_stage is not None and ev.from_stage != ev.to_stage


# make(job_id, stage, entered_at, scan_id, method) -> a new stay (a row, an ORM object, ...)
MakeStay = Callable[[int | None, str, dt.datetime, int | None, str | None], StayLike]


class StayBook:
    """The open stays of one order: the order's own (key None) and each job's (key job id).

    `jobs` maps each job id to (its creation time, its method): a job joins its order's moves from its
    creation on, and each of its stays carries the method it had then."""

    def __init__(self, order_scope: set[str], jobs: dict[int, tuple[dt.datetime, str | None]], make: MakeStay,
                 open_stays: Iterable[StayLike] = ()):
        self.order_scope = order_scope
        self.jobs = dict(jobs)
        self.make = make
        self.open: dict[int | None, StayLike] = {s.job_id: s for s in open_stays}

    def latest_entry(self) -> dt.datetime | None:
        return max((s.entered_at for s in self.open.values()), default=None)

    def apply(self, ev: EventLike) -> list[StayLike]:
        """Applies one event (in time order); returns the stays it began (the ones it ended are updated)."""
        if not is_move(ev):
            return []
        if ev.job_id is not None:
            if ev.job_id not in self.jobs:
                return []
            return [self._enter(ev.job_id, ev.to_stage, ev.at, ev.scan_id)]
        made = [self._enter(None, ev.to_stage, ev.at, ev.scan_id)]
        if ev.kind == "create":
            for job_id, (created, _) in self.jobs.items():
                if job_id not in self.open and created <= ev.at:
                    made.append(self._enter(job_id, ev.to_stage, ev.at, ev.scan_id))
        elif ev.to_stage == CANCELLED or ev.to_stage in self.order_scope or ev.from_stage in self.order_scope:
            for job_id, (created, _) in self.jobs.items():
                current = self.open.get(job_id)
                if created <= ev.at and (current is None or current.stage not in (CANCELLED, ev.to_stage)):
                    made.append(self._enter(job_id, ev.to_stage, ev.at, ev.scan_id))
        return made

    def _enter(self, job_id: int | None, stage: str, at: dt.datetime, scan_id: int | None) -> StayLike:
        current = self.open.get(job_id)
        if current is not None:
            current.left_at, current.ended_by = at, stage
        stay = self.make(job_id, stage, at, scan_id, None if job_id is None else self.jobs[job_id][1])
        self.open[job_id] = stay
        return stay
