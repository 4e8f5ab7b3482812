"""The production lifecycle as data, and the rules for moving through it.

Pure: no Flask, no database. Services ask these functions whether a move is allowed and what it is
(an advance, a skip, a rework); they raise MoveRefused with a sentence a person can act on.

The model, in the shop's words:
- Jobs (one per order item) move on their own through the job stages: received, preproduction,
  production, any production stages the shop adds, and qc. A job reaches `qc` when it passes the QC table.
- The order's stage is the earliest stage of its active jobs while they are in job stages.
- Packing is done to the whole order: moving into `packaging` is an order move, allowed only when every
  job is past QC (has reached `qc`). From `packaging` on, the order moves as one and its jobs follow it.
- `labeled` is the last stage people move; `picked_up` onward are set only by carrier events.
- A cancelled order leaves the flow: nothing moves it again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .refusals import Conflict

CANCELLED = "cancelled"

DEFAULT_STAGES: tuple[tuple[str, str, float | None], ...] = (
    ("received", "Received", 4),
    ("preproduction", "Pre-production", 24),
    ("production", "Production", 24),
    ("qc", "Quality check", 8),
    ("packaging", "Packaging", 8),
    ("labeled", "Label", 8),
    ("picked_up", "Carrier pickup", 24),
    ("in_transit", "In transit", None),
    ("out_for_delivery", "Out for delivery", None),
    ("delivered", "Delivered", None),
)
PACK_STAGE = "packaging"
QC_STAGE = "qc"
LAST_PEOPLE_STAGE = "labeled"
FIRST_CARRIER_STAGE = "picked_up"
FINAL_STAGE = "delivered"

ROLES = ("operator", "manager", "admin")
SOURCES = ("board", "scan", "api", "web", "import", "carrier", "system", "customer")


class MoveRefused(Conflict):
    """A move the rules forbid (a Conflict of the refusal family: 409); str(exc) is the sentence to show."""


def sentence(text: str) -> str:
    """A refusal as a sentence for a person: the rules write "A1042 is ...", "skipping ... needs a manager"."""
    text = text.strip()
    return text[:1].upper() + text[1:] if text else "Refused"


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    sla_hours: float | None
    index: int
    scope: str  # "job": jobs move on their own; "order": the order moves as one
    mover: str  # "people" or "carrier"


@dataclass(frozen=True)
class MovePlan:
    """What one move is: kind is advance, skip, rework or carrier."""

    kind: str
    from_stage: str
    to_stage: str
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lifecycle:
    stages: tuple[Stage, ...]
    _by_key: dict[str, Stage] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self):
        object.__setattr__(self, "_by_key", {s.key: s for s in self.stages})

    # -- lookups -------------------------------------------------------------------------------
    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def get(self, key: str) -> Stage:
        try:
            return self._by_key[key]
        except KeyError:
            raise MoveRefused(f"'{key}' is not a stage (stages: {', '.join(self.keys)})") from None

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.stages]

    def label(self, key: str) -> str:
        if key == CANCELLED:
            return "Cancelled"
        stage = self._by_key.get(key)
        return stage.label if stage else key

    def index(self, key: str) -> int:
        return self.get(key).index

    def next_key(self, key: str) -> str | None:
        i = self.index(key)
        return self.stages[i + 1].key if i + 1 < len(self.stages) else None

    def moved_by_people(self, key: str) -> bool:
        """Whether people move a thing out of this stage (not the carrier); False for a key not a stage."""
        return key in self._by_key and self._by_key[key].mover == "people"

    def people_next(self, key: str) -> str | None:
        """The stage a person advances `key` to: the next one, when people move into it; else None (the
        last stage, the carrier's stages, a key not a stage). The board's and the order page's advance."""
        if key not in self._by_key:
            return None
        nxt = self.next_key(key)
        return nxt if nxt is not None and self._by_key[nxt].mover == "people" else None

    def job_stages(self) -> list[Stage]:
        return [s for s in self.stages if s.scope == "job"]

    def people_stages(self) -> list[Stage]:
        return [s for s in self.stages if s.mover == "people"]

    def carrier_stages(self) -> list[Stage]:
        return [s for s in self.stages if s.mover == "carrier"]

    def is_past_qc(self, key: str) -> bool:
        return self.index(key) >= self.index(QC_STAGE)

    def earliest(self, keys: Iterable[str]) -> str:
        return min(keys, key=self.index)


def build_lifecycle(overrides: Sequence[dict] = ()) -> Lifecycle:
    """Default stages with the shop's relabels, SLAs and added production stages.

    Each override is {"key", "label"?, "sla_hours"?, "after"?}. A new key needs `after`, a stage before
    qc, because added stages are production steps (a shop's "curing" or "pressing"). Settings validate
    the shapes; this raises ValueError for what only the whole list can tell.
    """
    rows = [{"key": k, "label": label, "sla_hours": sla} for k, label, sla in DEFAULT_STAGES]
    keys = [r["key"] for r in rows]
    placed_after: dict[str, str] = {}  # added stage -> the stage it was placed after
    for ov in overrides:
        key = ov["key"]
        if key == CANCELLED:
            # "cancelled" is what a cancelled order's and job's stage field holds: a stage of that name
            # would make every job in it look cancelled.
            raise ValueError(f"stage '{key}': the name is reserved for cancelled orders; choose another key")
        if key in keys:
            row = rows[keys.index(key)]
            if "after" in ov:
                raise ValueError(f"stage '{key}' is a default stage; only new stages take 'after'")
        else:
            after = ov.get("after")
            if after is None:
                raise ValueError(f"stage '{key}' is new, so it needs after = \"<stage key>\" to place it")
            if after not in keys:
                raise ValueError(f"stage '{key}': after = '{after}' is not a stage key")
            if keys.index(after) >= keys.index(QC_STAGE):
                raise ValueError(
                    f"stage '{key}': added stages are production steps and must come before qc "
                    f"(after = '{after}' is too late)"
                )
            row = {"key": key, "label": key.replace("_", " ").capitalize(), "sla_hours": None}
            # Stages added after the same stage keep the order they are listed in: the new one goes after
            # every stage already placed (directly or through a chain) after `after`.
            pos = max(keys.index(k) for k in [after, *_placed_under(after, placed_after)]) + 1
            rows.insert(pos, row)
            keys.insert(pos, key)
            placed_after[key] = after
        if "label" in ov:
            row["label"] = ov["label"]
        if "sla_hours" in ov:
            row["sla_hours"] = ov["sla_hours"]
    pack = keys.index(PACK_STAGE)
    carrier = keys.index(FIRST_CARRIER_STAGE)
    stages = tuple(
        Stage(
            key=r["key"],
            label=r["label"],
            sla_hours=r["sla_hours"],
            index=i,
            scope="job" if i < pack else "order",
            mover="people" if i < carrier else "carrier",
        )
        for i, r in enumerate(rows)
    )
    return Lifecycle(stages)


def _placed_under(anchor: str, placed_after: dict[str, str]) -> list[str]:
    """Added stages whose `after` chain leads back to `anchor`."""
    found = []
    for key in placed_after:
        k = key
        while k in placed_after:
            k = placed_after[k]
            if k == anchor:
                found.append(key)
                break
    return found


# -- roles ------------------------------------------------------------------------------------------

def role_at_least(role: str | None, needed: str) -> bool:
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


# -- the rules --------------------------------------------------------------------------------------

def _classify(lc: Lifecycle, current: str, to: str, *, role: str | None, reason: str | None,
              subject: str) -> MovePlan:
    """Advance, skip or rework between two people stages; refuses what the rules forbid."""
    here, there = lc.index(current), lc.index(to)
    reason = (reason or "").strip()
    if there == here:
        raise MoveRefused(f"{subject} is already in {lc.label(to)}")
    if there == here + 1:
        return MovePlan("advance", current, to)
    if there > here + 1:
        skipped = tuple(s.key for s in lc.stages[here + 1:there])
        names = ", ".join(lc.label(k) for k in skipped)
        if not role_at_least(role, "manager"):
            raise MoveRefused(
                f"{subject} is in {lc.label(current)}; {lc.label(lc.next_key(current))} comes next. "
                f"Skipping {names} needs a manager"
            )
        if not reason:
            raise MoveRefused(f"skipping {names} needs a reason")
        return MovePlan("skip", current, to, skipped)
    if not reason:
        raise MoveRefused(
            f"moving {subject} back from {lc.label(current)} to {lc.label(to)} needs a reason (rework, QC fail)"
        )
    return MovePlan("rework", current, to)


def plan_job_move(lc: Lifecycle, *, job_code: str, job_stage: str, order_stage: str, to: str,
                  role: str | None, reason: str | None = None) -> MovePlan:
    """A single job's move. Jobs move alone only within the job stages."""
    target = lc.get(to)
    if order_stage == CANCELLED:
        raise MoveRefused(f"{job_code} belongs to a cancelled order")
    if job_stage == CANCELLED:
        raise MoveRefused(f"{job_code} is cancelled")
    if target.mover == "carrier":
        raise MoveRefused(f"{target.label} is set by the carrier's scans, not by hand")
    if lc.get(job_stage).scope == "order" or lc.get(order_stage).scope == "order":
        raise MoveRefused(
            f"{job_code} is packed with its order ({lc.label(order_stage)}); move the order instead"
        )
    if target.scope == "order":
        if target.key == PACK_STAGE and lc.is_past_qc(job_stage):
            raise MoveRefused(f"{job_code} has passed QC; packing is done to the whole order: scan or move the order")
        raise MoveRefused(f"{target.label} is done to the whole order: scan or move the order, not a job")
    return _classify(lc, job_stage, to, role=role, reason=reason, subject=job_code)


@dataclass(frozen=True)
class OrderMovePlan:
    kind: str
    from_stage: str
    to_stage: str
    job_plans: dict[str, MovePlan]  # job code -> its move (jobs that move)
    skipped: tuple[str, ...] = ()


def plan_order_move(lc: Lifecycle, *, order_code: str, order_stage: str, job_stages: dict[str, str],
                    to: str | None, role: str | None, reason: str | None = None,
                    source: str = "web") -> OrderMovePlan:
    """A move of the whole order. `job_stages` maps each active job's code to its stage.

    With `to` omitted the order advances one stage. Within the job stages, the jobs behind the target
    are brought to it (each one checked as a job move); into packaging and beyond, the order moves as one.
    """
    if order_stage == CANCELLED:
        raise MoveRefused(f"{order_code} is cancelled")
    if to is None:
        to = lc.next_key(order_stage)
        if to is None:
            raise MoveRefused(f"{order_code} is delivered; there is no next stage")
    target = lc.get(to)
    current = lc.get(order_stage)
    if target.mover == "carrier" and source != "carrier":
        raise MoveRefused(f"{target.label} is set by the carrier's scans, not by hand")
    if source == "carrier":
        if target.mover != "carrier" and target.key != LAST_PEOPLE_STAGE:
            raise MoveRefused(f"a carrier event cannot set {target.label}")
        if target.index <= current.index:
            raise MoveRefused(f"{order_code} is already at {current.label}; carrier events never move it back")
        return OrderMovePlan("carrier", order_stage, to, {
            code: MovePlan("carrier", st, to) for code, st in job_stages.items() if st != to
        })

    if target.scope == "job":
        if current.scope == "order":
            # Unpacking: the whole order goes back into production stages.
            plan = _classify(lc, order_stage, to, role=role, reason=reason, subject=order_code)
            return OrderMovePlan(plan.kind, order_stage, to,
                                 {c: MovePlan(plan.kind, s, to) for c, s in job_stages.items()})
        if target.index < current.index:
            # Rework of the whole order: every job past the target goes back to it (a reason is needed).
            ahead = {c: s for c, s in job_stages.items() if lc.index(s) > target.index}
            plan = _classify(lc, order_stage, to, role=role, reason=reason, subject=order_code)
            return OrderMovePlan(plan.kind, order_stage, to, {c: MovePlan(plan.kind, s, to) for c, s in ahead.items()})
        behind = {c: s for c, s in job_stages.items() if lc.index(s) < target.index}
        if not behind:
            raise MoveRefused(f"every job of {order_code} is already at {target.label} or beyond")
        job_plans = {
            c: _classify(lc, s, to, role=role, reason=reason, subject=c) for c, s in behind.items()
        }
        kinds = {p.kind for p in job_plans.values()}
        kind = "skip" if "skip" in kinds else "advance"
        skipped = tuple(k for p in job_plans.values() for k in p.skipped)
        return OrderMovePlan(kind, order_stage, to, job_plans, tuple(dict.fromkeys(skipped)))

    # Target is an order-scope stage (packaging, labeled).
    if current.scope == "job":
        not_ready = [(c, s) for c, s in job_stages.items() if not lc.is_past_qc(s)]
        if not_ready:
            detail = "; ".join(f"{c} is in {lc.label(s)}" for c, s in sorted(not_ready))
            raise MoveRefused(f"{order_code} cannot be packed until every job has passed QC: {detail}")
        if target.key != PACK_STAGE:
            raise MoveRefused(f"{order_code} must be packed before {target.label}")
        return OrderMovePlan("advance", order_stage, to,
                             {c: MovePlan("advance", s, to) for c, s in job_stages.items()})
    plan = _classify(lc, order_stage, to, role=role, reason=reason, subject=order_code)
    return OrderMovePlan(plan.kind, order_stage, to,
                         {c: MovePlan(plan.kind, s, to) for c, s in job_stages.items() if s != to},
                         plan.skipped)


def derived_order_stage(lc: Lifecycle, job_stages: Iterable[str], current: str) -> str:
    """The order's stage after its jobs moved: the earliest job stage while jobs are in job stages."""
    stages = [s for s in job_stages if s != CANCELLED]
    if not stages or current == CANCELLED:
        return current
    earliest = lc.earliest(stages)
    if lc.get(earliest).scope == "job":
        return earliest
    return current


def plan_cancel(lc: Lifecycle, *, order_code: str, order_stage: str, role: str | None, source: str,
                reason: str | None) -> None:
    if order_stage == CANCELLED:
        raise MoveRefused(f"{order_code} is already cancelled")
    if order_stage in (FIRST_CARRIER_STAGE,) or lc.get(order_stage).mover == "carrier":
        raise MoveRefused(f"{order_code} is already with the carrier ({lc.label(order_stage)}); it cannot be cancelled here")
    if source not in ("import", "system") and not role_at_least(role, "manager"):
        raise MoveRefused("cancelling an order needs a manager")
    if not (reason or "").strip():
        raise MoveRefused("cancelling an order needs a reason")
