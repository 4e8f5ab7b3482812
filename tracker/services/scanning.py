"""Scans: stored as they arrive (keyed by the tablet's scan ID), then applied through the order services.
The scan page and POST /api/scans both call record_scan(); the caller commits."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from ..domain import scanning as rules
from ..domain.carriers import CARRIER_NAMES, detect_carrier, label_tracking_number, looks_like_tracking
from ..domain.lifecycle import CANCELLED, LAST_PEOPLE_STAGE, PACK_STAGE, MoveRefused, sentence
from ..domain.refusals import Invalid, NotFound, Refused
from ..extensions import db
from ..models import Batch, Event, Job, LabelPurchase, Order, Scan, Shipment, StationState, User, utcnow
from ..settings import Scanning, Station, current_settings
from . import orders as order_service
from .orders import Actor
from .rows import Plain, connection, insert_new


class ScanInputError(Refused):
    """The scan request itself is unusable: nothing is stored. Its kind gives the status (BadScan 400,
    NoSuchStation and NoSuchScan 404)."""


class BadScan(ScanInputError, Invalid):
    """An empty or unreadable code, a bad scan ID, action, reason or operator."""


class NoSuchStation(ScanInputError, NotFound):
    pass


class NoSuchScan(ScanInputError, NotFound):
    pass


class _Refused(Exception):
    """The rules (or the station) said no to this scan: a 409, stored as the scan's refusal "rules"."""

    refusal = "rules"


class _UnknownCode(_Refused):
    """A code nothing has (no such job, order, batch or tracking link): a 422, stored as "unknown"."""

    refusal = "unknown"


def scan_json(scan: Scan | ScanOutcome, *, replayed: bool = False) -> dict:
    """The answer to a scan, the same on the first try and on a replay."""
    lc = current_settings().lifecycle
    order, job = scan.order, scan.job  # a new scan's as it read them; a stored row's by its relationships
    return {
        "ok": scan.ok,
        "outcome": scan.outcome,
        "message": scan.message,
        "scan_id": scan.uid,
        "station": scan.station,
        "kind": scan.kind,
        "action": scan.action,
        "order_id": order.code if order else None,
        "job_id": job.code if job else None,
        "customer": order.customer_name if order else None,
        "from": scan.from_stage,
        "to": scan.to_stage,
        "from_label": lc.label(scan.from_stage) if scan.from_stage else None,
        "to_label": lc.label(scan.to_stage) if scan.to_stage else None,
        "operator": scan.operator,
        "at": scan.received_at.isoformat(),
        "undone": scan.undone_at is not None,
        "replayed": replayed,
    }


def station_or_error(key: str) -> Station:
    station = current_settings().stations.get((key or "").strip())
    if station is None:
        known = ", ".join(current_settings().stations) or "none configured"
        raise NoSuchStation(f"there is no station {key!r} (stations: {known})", "station")
    return station


def _scanning_settings() -> Scanning:
    return current_settings().scanning


def _storable(text: str) -> bool:
    """Text a database column can hold: no NUL (PostgreSQL refuses it) and no lone surrogates (which a
    JSON body can carry as \\ud800 but no database can encode)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def record_scan(station_key: str, code: str, *, actor: Actor, uid: str | None = None, operator: str | None = None,
                action: str = "move", reason: str | None = None, source: str = "scan",
                scanned_at: dt.datetime | None = None) -> tuple[Scan | ScanOutcome, bool]:
    """Stores one scan and applies it. Returns (scan, replayed): a new scan as its ScanOutcome (the row's
    columns, no ORM object); a scan ID seen before returns the stored Scan row untouched, so a tablet that
    resends after a dropped connection never moves anything twice. Both read the same."""
    station = station_or_error(station_key)
    if not isinstance(code, str) or not code.strip():
        raise BadScan("the scan has no code", "code")
    if len(code) > 200:
        raise BadScan("the scanned code is too long (200 characters at most)", "code")
    if not _storable(code):
        raise BadScan("the scanned code has characters no label carries (a NUL or a broken character)",
                             "code")
    if action not in ("move", "qc_fail"):
        raise BadScan(f"unknown action {action!r} (move or qc_fail)", "action")
    if operator is not None and (not isinstance(operator, str) or len(operator) > 80 or not _storable(operator)):
        raise BadScan("operator must be a name of at most 80 characters", "operator")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 200 or not _storable(reason)):
        raise BadScan("reason must be one of the shop's QC fail reasons (200 characters at most)", "reason")
    if uid is not None and not rules.valid_uid(uid):
        raise BadScan("scan_id must be 8 to 64 letters, digits, - or _", "scan_id")
    cfg = _scanning_settings()
    read = rules.read_code(code, badge_prefix=cfg.badge_prefix, batch_prefix=cfg.batch_prefix)
    now = utcnow()
    values = dict(uid=uid or uuid.uuid4().hex, station=station.key, code=code.strip()[:200], kind=read.kind,
                  action=action, operator=(operator or actor.name or "")[:80] or None, source=source,
                  received_at=now, scanned_at=scanned_at, ok=False, outcome="refused", refusal=None, message="",
                  order_id=None,
                  job_id=None, from_stage=None, to_stage=None, undone_at=None)
    # One statement stores the scan unless its ID is stored already (a replay, or the same scan sent twice
    # at once: the other request's row wins and this one answers it). It is a plain INSERT in the request's
    # transaction, not a savepoint of its own: the scan, what it moved and its answer commit together, and
    # on SQLite the write lock is held from BEGIN IMMEDIATE to the caller's commit, so two scans take turns
    # (on PostgreSQL _lock() makes them).
    scan_id = insert_new(Scan.__table__, "uid", values, returning="id").scalar()
    if scan_id is None:
        return db.session.scalar(select(Scan).where(Scan.uid == values["uid"])), True
    result = ScanOutcome(scan_id, values)
    if not _is_double_scan(result, read, now, cfg):
        try:
            if _may_refuse_after_writing(station, read, action):
                # A batch (all or none), a ship-out label, a QC fail, a packing slip: a refusal can come
                # after something was written, and the savepoint takes it all back.
                with db.session.begin_nested():
                    _apply(result, station, read, actor=Actor(result.operator, actor.role), action=action,
                           reason=reason)
            else:
                # A plain move: every refusal comes before anything is written (the rules are asked first),
                # so the order and its jobs are read as plain rows (_lock_plain).
                _apply(result, station, read, actor=Actor(result.operator, actor.role), action=action,
                       reason=reason, plain=True)
        except (Refused, _Refused) as exc:  # a move rule's (MoveRefused), the printer's, ...
            # The refusal still names the order and job it was about, so the operator sees which one it was.
            result.refused(sentence(str(exc)), read.kind, getattr(exc, "refusal", _Refused.refusal))
    _store_outcome(result)
    return result, False


_OUTCOME = ("kind", "operator", "ok", "outcome", "refusal", "message", "order_id", "job_id", "from_stage", "to_stage")
_UPDATE_OUTCOME = (update(Scan.__table__).where(Scan.__table__.c.id == bindparam("_id"))
                   .values({c: bindparam(c) for c in _OUTCOME}))


class ScanOutcome:
    """A new scan as it is applied and as record_scan() returns it: the Scan row's columns as plain
    attributes, written to the row once, by _store_outcome(). No ORM object of the scan is made or tracked
    (the hot path's identity-map churn); a replay returns the stored Scan row, which reads the same.

    `order` and `job` are what it was applied to as the scan read them (an ORM object or a plain row:
    services/rows.Plain), so its answer reads nothing more; one it names without having read it (a double
    scan names the scan before it) is looked up when asked."""

    def __init__(self, scan_id: int, values: dict):
        self.id = scan_id
        self.uid, self.station, self.code, self.action = values["uid"], values["station"], values["code"], \
            values["action"]
        self.kind, self.operator, self.source = values["kind"], values["operator"], values["source"]
        self.received_at, self.scanned_at, self.undone_at = values["received_at"], values["scanned_at"], None
        self.ok, self.outcome, self.message, self.refusal = False, "refused", "", None
        self.order_id = self.job_id = self.from_stage = self.to_stage = None
        self.about = (None, None)  # the order and job (objects or plain rows) it is about, once looked up

    def refused(self, message: str, kind: str, refusal: str) -> None:
        self.ok, self.outcome, self.message, self.kind, self.refusal = False, "refused", message, kind, refusal
        self.from_stage = self.to_stage = None
        order, job = self.about  # a refusal still names what it was about
        self.order_id, self.job_id = order.id if order else None, job.id if job else None

    @property
    def order(self):
        return self._subject(0, Order, self.order_id)

    @property
    def job(self):
        return self._subject(1, Job, self.job_id)

    def _subject(self, i: int, model, subject_id: int | None):
        if subject_id is None:
            return None
        read = self.about[i]
        return read if read is not None and read.id == subject_id else db.session.get(model, subject_id)


def _store_outcome(result: ScanOutcome) -> None:
    """Writes what the scan came to: one UPDATE of its row (nothing of it is in the session to flush)."""
    connection().execute(_UPDATE_OUTCOME, {"_id": result.id, **{c: getattr(result, c) for c in _OUTCOME}})


def _may_refuse_after_writing(station: Station, read, action: str) -> bool:
    """Whether applying this scan can be refused after it has written something (then it runs in a savepoint)."""
    if action == "qc_fail" or read.kind in ("batch", "label"):
        return True
    if read.kind in ("job", "order") and looks_like_tracking(read.value):
        return True  # it may turn out to be an international carrier label
    return station.moves_to == PACK_STAGE and bool(station.printer)


# The station's scan before this one: the columns the double-scan check reads, not an ORM object.
_s = Scan.__table__
_PREVIOUS_SCAN = (select(_s.c.kind, _s.c.action, _s.c.undone_at, _s.c.outcome, _s.c.code, _s.c.received_at,
                         _s.c.order_id, _s.c.job_id, _s.c.from_stage, _s.c.to_stage)
                  .where(_s.c.station == bindparam("station"), _s.c.id < bindparam("id"))
                  .order_by(_s.c.id.desc()).limit(1))


def _is_double_scan(scan: ScanOutcome, read, now: dt.datetime, cfg: Scanning) -> bool:
    previous = connection().execute(_PREVIOUS_SCAN, {"station": scan.station, "id": scan.id}).first()
    if previous is None or previous.kind != read.kind or previous.kind in ("badge", "unknown"):
        return False
    # The same action (a QC fail right after a pass is a second decision, not a double trigger), on a
    # scan that still stands (after an undo, scanning again is meant), of the same thing however it was
    # written (A1001B, a1001b, its QR code's URL).
    if previous.action != scan.action or previous.undone_at is not None:
        return False
    if previous.outcome not in ("moved", "duplicate"):
        return False
    prev_read = rules.read_code(previous.code, badge_prefix=cfg.badge_prefix, batch_prefix=cfg.batch_prefix)
    if not rules.is_duplicate(prev_read.value, previous.received_at, read.value, now, cfg.duplicate_seconds):
        return False
    scan.ok, scan.outcome = True, "duplicate"
    scan.order_id, scan.job_id = previous.order_id, previous.job_id
    scan.from_stage, scan.to_stage = previous.from_stage, previous.to_stage
    scan.message = "Already recorded (the same code twice in a row)"
    return True


# -- applying one scan ------------------------------------------------------------------------------

def _apply(scan: ScanOutcome, station: Station, read, *, actor: Actor, action: str, reason: str | None,
           plain: bool = False) -> None:
    lc = current_settings().lifecycle
    if read.kind == "unknown":
        raise _UnknownCode(f"unknown code {read.value!r}" if read.value else "unknown code")
    if read.kind == "badge":
        user = db.session.scalar(select(User).where(func.upper(User.username) == read.value, User.active.is_(True)))
        if user is None:
            raise _Refused(f"no person has the badge {read.value!r}")
        scan.ok, scan.outcome, scan.operator = True, "info", user.username
        scan.message = f"Scanning as {user.username}"
        return
    if read.kind == "label":
        _ship_out_label(scan, station, read.value, actor)
        return
    if action == "qc_fail":
        _qc_fail(scan, station, read, actor, reason)
        return

    target = station.moves_to
    if read.kind == "batch":
        _move_batch(scan, station, read.value, actor)
        return
    if read.kind in ("job", "order") and looks_like_tracking(read.value) and not _exists(read):
        # An international label (EC123456789US) has the shape of a job code: no such job, so a label.
        scan.kind = "label"
        _ship_out_label(scan, station, label_tracking_number(read.value), actor)
        return
    order, job = _lookup(read, plain=plain)
    _aim(scan, order, job)
    if order.stage == CANCELLED:
        raise _Refused(f"{order.code} is cancelled")

    if target == LAST_PEOPLE_STAGE:
        _ship_out_order(scan, station, order)
        return
    if lc.get(target).scope == "order":
        if order.stage == target:
            raise _Refused(f"{order.code} is already {'packed' if target == PACK_STAGE else 'in ' + lc.label(target)}")
        _refuse_backwards(lc, order.code, order.stage, target)
        from_stage = order.stage
        order_service.move_order(order, target, actor=actor, source="scan", station=station.key, scan_id=scan.id)
        _moved(scan, order, job, target, f"{order.code} → {lc.label(target)}" + _jobs_note(order), from_stage)
        if target == PACK_STAGE and station.printer:
            # Packed at a bench with a printer: its packing slip prints there (through the print queue).
            from .printing import queue_labels

            queue_labels(order, kind="packing", printer=station.printer, actor=actor, source="scan")
            scan.message += f" · packing slip to {station.printer}"
        return
    if job is not None:
        if job.stage == target:
            raise _Refused(f"{job.code} is already in {lc.label(target)}")
        if job.stage != CANCELLED and job.stage in lc and lc.index(job.stage) < lc.get(target).index and \
                lc.get(order.stage).scope == "order":
            raise _Refused(f"{job.code} is packed with its order")
        _refuse_backwards(lc, job.code, job.stage, target)
        from_stage = job.stage
        order_service.move_job(job, target, actor=actor, source="scan", station=station.key, scan_id=scan.id)
        _moved(scan, order, job, target, f"{job.code} → {lc.label(target)}", from_stage)
        return
    _refuse_backwards(lc, order.code, order.stage, target)
    from_stage = order.stage
    plan = order_service.move_order(order, target, actor=actor, source="scan", station=station.key, scan_id=scan.id)
    n = len(plan.job_plans)
    _moved(scan, order, None, target, f"{order.code}: {n} job{'s' if n != 1 else ''} → {lc.label(target)}",
           from_stage)


def _aim(scan: ScanOutcome, order: Order, job: Job | None = None) -> None:
    """What the scan is about, kept beside the row (set on it with the outcome, in the one UPDATE the scan
    takes), so a refusal can still say it."""
    scan.about = (order, job)


def _jobs_note(order: Order) -> str:
    n = len([j for j in order.jobs if j.stage != CANCELLED])
    return f" ({n} job{'s' if n != 1 else ''})" if n > 1 else ""


def _refuse_backwards(lc, code: str, current: str, target: str) -> None:
    """A scan only ever moves forward one stage: say plainly what is wrong otherwise."""
    if current not in lc:
        return
    if lc.index(current) > lc.index(target):
        raise _Refused(f"{code} is already past {lc.label(target)} (it is in {lc.label(current)})")
    nxt = lc.next_key(current)
    if lc.index(target) > lc.index(current) + 1 and lc.get(target).scope == "job":
        raise _Refused(f"{code} is in {lc.label(current)}; {lc.label(nxt)} comes next")


def _moved(scan: ScanOutcome, order: Order, job: Job | None, target: str, message: str, from_stage: str) -> None:
    scan.ok, scan.outcome, scan.to_stage, scan.message = True, "moved", target, message
    scan.from_stage = from_stage
    scan.order_id, scan.job_id = order.id, job.id if job else None


def _exists(read) -> bool:
    model = Job if read.kind == "job" else Order
    return db.session.scalar(select(model.id).where(model.code == read.value)) is not None


def _lock(*orders: Order | int) -> dict[int, Order]:
    """Locks the orders' rows and their jobs' (SELECT ... FOR UPDATE on PostgreSQL) and reloads them, so two
    scans of one order at once take turns and the second sees what the first did: without it both could
    move the same job (two events for one move), or two jobs moved at two stations could leave the order's
    stage behind. Orders are locked in id order, then their jobs, so two batches never deadlock. (SQLite
    serialises writers already: the scan's INSERT took the database's write lock.)

    Returns the orders by id, each with its `jobs` filled in from the same read: the caller holds them (the
    session keeps only what something references) and nothing loads them again."""
    ids = sorted({o if isinstance(o, int) else o.id for o in orders})
    if not ids:
        return {}
    return _lock_where(Order.id.in_(ids))


def _job_order(job: Job) -> tuple[int, int]:
    """An order's jobs as Order.jobs lists them (locked in id order, listed by position)."""
    return job.position, job.id


def _lock_where(which, params: dict | None = None) -> dict[int, Order]:
    """_lock() for the orders `which` (a condition on orders, its bound values in `params`) picks: two
    statements, the orders and their jobs."""
    fresh = {"populate_existing": True}
    loaded = {o.id: o for o in db.session.scalars(select(Order).where(which).order_by(Order.id)
                                                  .with_for_update().execution_options(**fresh), params)}
    if not loaded:
        return {}
    jobs: dict[int, list[Job]] = {i: [] for i in loaded}
    for job in db.session.scalars(select(Job).where(Job.order_id.in_(list(loaded))).order_by(Job.id)
                                  .with_for_update().execution_options(**fresh)):
        jobs[job.order_id].append(job)
    for order_id, order in loaded.items():
        set_committed_value(order, "jobs", sorted(jobs[order_id], key=_job_order))
    return loaded


def _joined_lock(which):
    return (select(Order, Job).join(Job, Job.order_id == Order.id).where(which).order_by(Order.id, Job.id)
            .with_for_update().execution_options(populate_existing=True))


# The scanned code's order, by a job's code or its own: built once (a statement built per scan was a
# twentieth of its cost, most of it SQLAlchemy's cache key).
_BY_CODE = {"job": Order.id == select(Job.order_id).where(Job.code == bindparam("code")).scalar_subquery(),
            "order": Order.code == bindparam("code")}
_JOINED_BY_CODE = {kind: _joined_lock(which) for kind, which in _BY_CODE.items()}


def _lock_one(kind: str, code: str) -> dict[int, Order]:
    """_lock_where() for the one order a job's or an order's code (`kind`) picks, in one statement where
    it has jobs: the order's row joined to its jobs', all locked (PostgreSQL locks the order's row, then
    its jobs' in id order, as _lock_where does). An order with no jobs, or an unknown code, takes
    _lock_where's two statements."""
    rows = db.session.execute(_JOINED_BY_CODE[kind], {"code": code}).all()
    if not rows:
        return _lock_where(_BY_CODE[kind], {"code": code})
    order = rows[0][0]  # one order: the codes are unique
    set_committed_value(order, "jobs", sorted((job for _, job in rows), key=_job_order))
    return {order.id: order}


class _PlainOrder(Plain):
    """The scanned order as a plain move needs it (what the rules, the trail and the answer read)."""

    __table__ = Order.__table__
    # stage_entered_at and updated_at only as a move sets them: they are not read
    __slots__ = ("id", "code", "stage", "customer_name", "jobs", "stage_entered_at", "updated_at")


class _PlainJob(Plain):
    __table__ = Job.__table__
    __slots__ = ("id", "code", "position", "stage", "created_at", "method", "order", "stage_entered_at")


_o, _j = Order.__table__, Job.__table__
_PLAIN_ORDER = (_o.c.id, _o.c.code, _o.c.stage, _o.c.customer_name)
_PLAIN_JOB = (_j.c.id, _j.c.code, _j.c.position, _j.c.stage, _j.c.created_at, _j.c.method)
_PLAIN_BY_CODE = {kind: select(*_PLAIN_ORDER, *_PLAIN_JOB).select_from(_o.join(_j, _j.c.order_id == _o.c.id))
                  .where(which).order_by(_o.c.id, _j.c.id).with_for_update()
                  for kind, which in _BY_CODE.items()}


def _lock_plain(kind: str, code: str) -> Order | _PlainOrder | None:
    """_lock_one() for a plain move: the same one locking statement, read by Core into plain rows (a fifth
    of a scan's time went to the ORM loading the order and its jobs as objects). An order without jobs, an
    unknown code, or an order or job the session already holds as an object (refreshed as _lock_one would
    refresh it) takes _lock_one's way and returns the ORM object."""
    session = db.session()
    rows = connection(session).execute(_PLAIN_BY_CODE[kind], {"code": code}).all()
    held = session.identity_map
    if not rows or (Order, (rows[0][0],), None) in held or any((Job, (r[4],), None) in held for r in rows):
        return _locked_order(kind, code)
    order_id, order_code, stage, customer = rows[0][:4]
    order = _PlainOrder()
    order.id, order.code, order.stage, order.customer_name = order_id, order_code, stage, customer
    jobs = []
    for row in rows:
        job = _PlainJob()
        job.id, job.code, job.position, job.stage, job.created_at, job.method = row[4:]
        job.order = order
        jobs.append(job)
    jobs.sort(key=_job_order)
    order.jobs = jobs
    return order


def _locked_order(kind: str, code: str) -> Order | None:
    """The one order _lock_one() locked, as an object, or None."""
    return next(iter(_lock_one(kind, code).values()), None)


def _lookup(read, *, plain: bool = False) -> tuple[Order, Job | None]:
    """The scanned order (and job), locked and fresh, by its code: the order's row picked by the code (a
    job's through a subquery) with its jobs, one statement (_lock_one). `plain`: for a move whose refusals
    all come before it writes (no savepoint), read as plain rows (_lock_plain)."""
    if read.kind == "token":
        order = db.session.scalar(select(Order).where(Order.public_token == read.value))
        if order is None:
            raise _UnknownCode("unknown code (a tracking link no order has)")
        _lock(order)
        return order, None
    order = (_lock_plain if plain else _locked_order)(read.kind, read.value)
    if read.kind == "job":
        job = next((j for j in order.jobs if j.code == read.value), None) if order is not None else None
        if job is None:
            raise _UnknownCode(f"unknown code {read.value}: no such job")
        return order, job
    if order is None:
        raise _UnknownCode(f"unknown code {read.value}: no such order")
    return order, None


def _move_batch(scan: ScanOutcome, station: Station, code: str, actor: Actor) -> None:
    lc = current_settings().lifecycle
    batch = db.session.scalar(select(Batch).where(Batch.code == code))
    if batch is None:
        raise _UnknownCode(f"unknown code {code}: no such batch")
    target = station.moves_to
    if lc.get(target).scope == "order":
        raise _Refused(f"a batch is scanned at a production station, not at {lc.label(target)}")
    _lock(*(j.order for j in batch.jobs))
    jobs = [j for j in batch.jobs if j.stage != CANCELLED]
    to_move = [j for j in jobs if j.stage in lc and lc.index(j.stage) < lc.index(target)
               and lc.get(j.order.stage).scope == "job"]
    if not to_move:
        raise _Refused(f"every job of {code} is already at {lc.label(target)} or past it")
    for job in to_move:  # all or none: a refusal rolls the whole batch back
        order_service.move_job(job, target, actor=actor, source="scan", station=station.key, scan_id=scan.id)
    scan.ok, scan.outcome, scan.to_stage = True, "moved", target
    scan.message = f"{code}: {len(to_move)} job{'s' if len(to_move) != 1 else ''} → {lc.label(target)}"


def _qc_fail(scan: ScanOutcome, station: Station, read, actor: Actor, reason: str | None) -> None:
    reasons = _scanning_settings().qc_fail_reasons
    reason = (reason or "").strip()
    if not reason:
        raise _Refused("say why it failed QC (pick a reason)")
    if reasons and reason not in reasons:
        raise _Refused(f"{reason!r} is not one of this shop's QC fail reasons")
    if read.kind != "job":
        raise _Refused("a QC fail is scanned per job (scan the job's label)")
    order, job = _lookup(read)
    _aim(scan, order, job)
    lc = current_settings().lifecycle
    back_to = "production"
    if job.stage not in lc or lc.get(job.stage).scope != "job" or lc.index(job.stage) < lc.index(back_to):
        raise _Refused(f"{job.code} is in {lc.label(job.stage)}; only a job on press or in QC can fail QC")
    scan.from_stage = job.stage
    if job.stage == back_to:
        # Failed at the QC table before it was ever scanned into QC: it stays on press, as a reprint.
        order_service.record_reprint(job, actor=actor, source="scan", station=station.key, reason=reason,
                                     scan_id=scan.id)
    else:
        order_service.move_job(job, back_to, actor=actor, source="scan", station=station.key,
                               note=f"QC fail: {reason}", kind="qc_fail", scan_id=scan.id)
    job.reprints = (job.reprints or 0) + 1
    scan.order_id, scan.job_id = order.id, job.id
    scan.ok, scan.outcome, scan.to_stage = True, "moved", back_to
    scan.message = f"{job.code} failed QC ({reason}) → back to {lc.label(back_to)}, reprint #{job.reprints}"


# -- the ship-out check -----------------------------------------------------------------------------

def _ship_out_order(scan: ScanOutcome, station: Station, order: Order) -> None:
    lc = current_settings().lifecycle
    if order.stage == LAST_PEOPLE_STAGE or (order.stage in lc and lc.index(order.stage) > lc.index(LAST_PEOPLE_STAGE)):
        raise _Refused(f"{order.code} has already passed the ship-out check ({lc.label(order.stage)})")
    if order.stage != PACK_STAGE:
        raise _Refused(f"{order.code} is in {lc.label(order.stage)}; pack it first, then the ship-out check")
    if station.buy_labels:
        # The label is bought after this scan is committed (services/postage.buy_at_ship_out): no
        # provider call inside the scan's transaction.
        scan.ok, scan.outcome, scan.order_id = True, "info", order.id
        scan.from_stage = order.stage
        scan.message = f"{order.code}: buying its label"
        return
    state = db.session.get(StationState, station.key) or StationState(station=station.key)
    state.pending_order_id, state.pending_since = order.id, utcnow()
    db.session.add(state)
    scan.ok, scan.outcome, scan.order_id = True, "info", order.id
    scan.message = f"{order.code}: now scan its carrier label"


def _ship_out_label(scan: ScanOutcome, station: Station, number: str, actor: Actor) -> None:
    lc = current_settings().lifecycle
    if station.moves_to != LAST_PEOPLE_STAGE:
        raise _Refused("a carrier label is scanned at the ship-out station")
    state = db.session.get(StationState, station.key)
    now = utcnow()
    if state is None or state.pending_order_id is None or \
            now - state.pending_since > dt.timedelta(seconds=rules.PENDING_LABEL_SECONDS):
        raise _Refused("scan the order first, then its carrier label")
    order = db.session.get(Order, state.pending_order_id)
    _lock(order)
    _aim(scan, order)
    carrier = detect_carrier(number)
    taken = db.session.scalar(select(Shipment).where(Shipment.tracking_number == number))
    if taken is not None and taken.order_id != order.id:
        raise _Refused(f"mismatch: this label belongs to {taken.order.code}, not {order.code}")
    mine = [s for s in order.live_shipments]
    if mine and taken is None:
        expected = ", ".join(s.tracking_number for s in mine)
        raise _Refused(f"mismatch: {order.code}'s label is {expected}, not {number}")
    if order.stage == LAST_PEOPLE_STAGE or (order.stage in lc and lc.index(order.stage) > lc.index(LAST_PEOPLE_STAGE)):
        # (another scan of the same label, from a second tablet, got there first)
        raise _Refused(f"{order.code} has already passed the ship-out check ({lc.label(order.stage)})")
    if order.stage != PACK_STAGE:
        raise _Refused(f"{order.code} is in {lc.label(order.stage)}; pack it first, then the ship-out check")
    if taken is None:
        from .shipments import add_shipment

        add_shipment(order, carrier=carrier or "other", tracking_number=number, actor=actor, source="scan")
    scan.from_stage = order.stage
    order_service.move_order(order, LAST_PEOPLE_STAGE, actor=actor, source="scan", station=station.key,
                             note=f"Ship-out check: {CARRIER_NAMES.get(carrier, 'carrier')} {number}", scan_id=scan.id)
    state.pending_order_id = state.pending_since = None
    scan.order_id = order.id
    scan.ok, scan.outcome, scan.to_stage = True, "moved", LAST_PEOPLE_STAGE
    scan.message = f"{order.code} checked out: {CARRIER_NAMES.get(carrier, 'carrier')} {number}"


def pending_label_order(station_key: str) -> Order | None:
    state = db.session.get(StationState, station_key)
    if state is None or state.pending_order_id is None:
        return None
    if utcnow() - state.pending_since > dt.timedelta(seconds=rules.PENDING_LABEL_SECONDS):
        return None
    return db.session.get(Order, state.pending_order_id)


# -- undo -------------------------------------------------------------------------------------------

def _label_bought_by(scan: Scan) -> str | None:
    """The tracking number of the live label a scan at a label-buying station bought, else None (a
    purchase whose answer was lost leaves its scan refused, which is never undone)."""
    station = current_settings().stations.get(scan.station)
    if station is None or not station.buy_labels or scan.outcome != "moved":
        return None
    return db.session.scalar(select(LabelPurchase.tracking_number).where(
        LabelPurchase.key == f"scan:{scan.uid}", LabelPurchase.status == "bought"))


def undo_scan(uid: str, *, actor: Actor, station: str | None = None) -> Scan:
    """Reverses what one scan moved, within the undo window, if nothing has moved those jobs since.
    With `station`, only a scan made at that station (the page undoes its own scans)."""
    if not isinstance(uid, str) or not rules.valid_uid(uid):
        # Every stored scan ID has this shape; anything else (a NUL, a lone surrogate from a JSON \ud800)
        # is no scan, and would make the database driver raise before the lookup could say so.
        raise BadScan("scan_id must be 8 to 64 letters, digits, - or _", "scan_id")
    # Locked and re-read: two undos of one scan at once take turns, and the second finds it undone.
    scan = db.session.scalar(select(Scan).where(Scan.uid == uid).with_for_update()
                             .execution_options(populate_existing=True))
    if scan is None or (station is not None and scan.station != station):
        where = f" at {station}" if station is not None else ""
        raise NoSuchScan(f"no scan {uid!r}{where}", "scan_id")
    now = utcnow()
    why = rules.undo_refusal(scan_ok=scan.ok, outcome=scan.outcome, received_at=scan.received_at,
                             undone=scan.undone_at is not None, now=now,
                             window=_scanning_settings().undo_seconds, bought_label=_label_bought_by(scan))
    if why is None and scan.kind == "label":
        why = "a ship-out check cannot be undone by scan; move the order back from its page"
    if why:
        raise MoveRefused(why)
    lc = current_settings().lifecycle
    events = list(db.session.scalars(select(Event).where(Event.scan_id == scan.id).order_by(Event.id)))
    note = f"Undo of scan at {scan.station}"
    order = db.session.get(Order, scan.order_id) if scan.order_id else None
    _lock(*([order] if order is not None else []),
          *(db.session.get(Job, e.job_id).order for e in events if e.job_id is not None))
    if scan.to_stage in lc and lc.get(scan.to_stage).scope == "order":
        # Packing (or beyond) moved the order as one: one order event to reverse.
        ev = next((e for e in events if e.job_id is None and e.to_stage == scan.to_stage
                   and e.from_stage != e.to_stage), None)
        if ev is None or order is None:
            raise MoveRefused("that scan moved nothing that can be put back; use the order page")
        if order.stage != scan.to_stage:
            raise MoveRefused(f"{order.code} has moved since that scan (it is in {lc.label(order.stage)}); "
                              f"move it from the order page")
        order_service.move_order(order, ev.from_stage, actor=actor, source="scan", station=scan.station,
                                 note=note, kind="undo")
    else:
        job_events = [e for e in events if e.job_id is not None and e.from_stage != e.to_stage]
        if not job_events and scan.action != "qc_fail":
            raise MoveRefused("that scan moved nothing that can be put back; use the order page")
        for ev in job_events:
            job = db.session.get(Job, ev.job_id)
            if job.stage != ev.to_stage:
                raise MoveRefused(f"{job.code} has moved since that scan; move it from the order page")
        for ev in job_events:
            job = db.session.get(Job, ev.job_id)
            order_service.move_job(job, ev.from_stage, actor=actor, source="scan", station=scan.station,
                                   note=note, kind="undo")
        if scan.action == "qc_fail" and scan.job_id and not job_events:
            # A QC fail on press changed no stage; the undo of its reprint still goes on the record.
            job = db.session.get(Job, scan.job_id)
            if job.stage != scan.to_stage:
                raise MoveRefused(f"{job.code} has moved since that scan; move it from the order page")
            order_service.record_job_event(job, kind="undo", actor=actor, source="scan", at=now,
                                           station=scan.station, note=f"{note}: QC fail withdrawn")
    if scan.action == "qc_fail" and scan.job_id:
        job = db.session.get(Job, scan.job_id)
        job.reprints = max(0, (job.reprints or 0) - 1)
    scan.undone_at = now
    db.session.flush()
    return scan


def recent_scans(station_key: str, limit: int = 20) -> list[Scan]:
    return list(db.session.scalars(
        select(Scan).where(Scan.station == station_key).order_by(Scan.id.desc()).limit(limit)))
