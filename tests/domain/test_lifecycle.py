"""The production lifecycle rules, alone: no app, no database."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from tracker.domain.lifecycle import (
    CANCELLED, DEFAULT_STAGES, SOURCES, Lifecycle, MovePlan, MoveRefused, build_lifecycle, derived_order_stage,
    plan_cancel, plan_job_move, plan_order_move, role_at_least,
)

DEFAULT_KEYS = ["received", "preproduction", "production", "qc", "packaging", "labeled",
                "picked_up", "in_transit", "out_for_delivery", "delivered"]
JOB_STAGES = ["received", "preproduction", "production", "qc"]
ORDER_PEOPLE_STAGES = ["packaging", "labeled"]
CARRIER_STAGES = ["picked_up", "in_transit", "out_for_delivery", "delivered"]


@pytest.fixture(scope="module")
def lc() -> Lifecycle:
    return build_lifecycle()


def job_move(lc, to, *, job_stage="received", order_stage=None, role="operator", reason=None, code="A1042A"):
    return plan_job_move(lc, job_code=code, job_stage=job_stage,
                         order_stage=job_stage if order_stage is None else order_stage,
                         to=to, role=role, reason=reason)


def order_move(lc, to, jobs, *, order_stage=None, role="operator", reason=None, source="web", code="A1042"):
    if order_stage is None:
        order_stage = lc.earliest(jobs.values())
    return plan_order_move(lc, order_code=code, order_stage=order_stage, job_stages=jobs, to=to,
                           role=role, reason=reason, source=source)


def refused(fn, *args, **kwargs) -> str:
    with pytest.raises(MoveRefused) as info:
        fn(*args, **kwargs)
    return str(info.value)


# -- the stages as data --------------------------------------------------------------------------

def test_default_stages_in_order(lc):
    assert lc.keys == DEFAULT_KEYS
    assert [s.index for s in lc.stages] == list(range(len(DEFAULT_KEYS)))
    assert [s.key for s in lc.job_stages()] == JOB_STAGES
    assert [s.key for s in lc.people_stages()] == JOB_STAGES + ORDER_PEOPLE_STAGES
    assert [s.key for s in lc.carrier_stages()] == CARRIER_STAGES


@pytest.mark.parametrize("key,scope,mover", [
    ("received", "job", "people"),
    ("preproduction", "job", "people"),
    ("production", "job", "people"),
    ("qc", "job", "people"),
    ("packaging", "order", "people"),
    ("labeled", "order", "people"),
    ("picked_up", "order", "carrier"),
    ("in_transit", "order", "carrier"),
    ("out_for_delivery", "order", "carrier"),
    ("delivered", "order", "carrier"),
])
def test_stage_scope_and_mover(lc, key, scope, mover):
    stage = lc.get(key)
    assert (stage.scope, stage.mover) == (scope, mover)


def test_default_labels_and_slas(lc):
    for key, label, sla in DEFAULT_STAGES:
        assert lc.label(key) == label
        assert lc.get(key).sla_hours == sla


def test_label_of_cancelled_and_unknown(lc):
    assert lc.label(CANCELLED) == "Cancelled"
    assert lc.label("nope") == "nope"
    assert CANCELLED not in lc
    assert "qc" in lc


def test_unknown_stage_is_refused_with_the_list(lc):
    message = refused(lc.get, "shipping")
    assert "'shipping' is not a stage" in message
    assert "received, preproduction" in message


@pytest.mark.parametrize("key,nxt", list(zip(DEFAULT_KEYS, DEFAULT_KEYS[1:] + [None])))
def test_next_key(lc, key, nxt):
    assert lc.next_key(key) == nxt


@pytest.mark.parametrize("key,past", [(k, k not in ("received", "preproduction", "production"))
                                      for k in DEFAULT_KEYS])
def test_is_past_qc(lc, key, past):
    assert lc.is_past_qc(key) is past


def test_earliest(lc):
    assert lc.earliest(["qc", "preproduction", "production"]) == "preproduction"
    assert lc.earliest(["labeled"]) == "labeled"


@pytest.mark.parametrize("role,needed,ok", [
    ("operator", "operator", True), ("operator", "manager", False), ("operator", "admin", False),
    ("manager", "operator", True), ("manager", "manager", True), ("manager", "admin", False),
    ("admin", "operator", True), ("admin", "manager", True), ("admin", "admin", True),
    (None, "operator", False), ("", "operator", False), ("Manager", "operator", False), ("root", "operator", False),
])
def test_role_at_least(role, needed, ok):
    assert role_at_least(role, needed) is ok


# -- build_lifecycle: the shop's overrides ------------------------------------------------------

def test_relabel_and_sla_override_keep_keys_and_order():
    lc = build_lifecycle([{"key": "production", "label": "On press", "sla_hours": 12},
                          {"key": "qc", "sla_hours": 2.5},
                          {"key": "delivered", "label": "Arrived"}])
    assert lc.keys == DEFAULT_KEYS
    assert lc.label("production") == "On press"
    assert lc.get("production").sla_hours == 12
    assert lc.label("qc") == "Quality check"  # only the SLA changed
    assert lc.get("qc").sla_hours == 2.5
    assert lc.label("delivered") == "Arrived"
    assert lc.get("received").sla_hours == 4


def test_overrides_do_not_leak_into_the_defaults():
    build_lifecycle([{"key": "qc", "label": "Changed"}])
    assert build_lifecycle().label("qc") == "Quality check"


def test_added_stage_goes_after_its_anchor_as_a_job_stage():
    lc = build_lifecycle([{"key": "curing", "after": "production", "sla_hours": 4}])
    assert lc.keys == ["received", "preproduction", "production", "curing", "qc", *DEFAULT_KEYS[4:]]
    curing = lc.get("curing")
    assert (curing.scope, curing.mover, curing.index, curing.sla_hours) == ("job", "people", 3, 4)
    assert curing.label == "Curing"  # from the key when no label is given
    assert lc.get("qc").index == 4
    assert lc.get("packaging").scope == "order"
    assert lc.get("picked_up").mover == "carrier"
    assert [s.index for s in lc.stages] == list(range(11))


def test_added_stage_label_from_key_and_given_label():
    lc = build_lifecycle([{"key": "heat_press", "after": "received"},
                          {"key": "weeding", "after": "preproduction", "label": "Weed vinyl"}])
    assert lc.keys[:6] == ["received", "heat_press", "preproduction", "weeding", "production", "qc"]
    assert lc.label("heat_press") == "Heat press"
    assert lc.label("weeding") == "Weed vinyl"
    assert lc.get("heat_press").sla_hours is None


def test_stages_added_after_the_same_stage_keep_their_listed_order():
    lc = build_lifecycle([{"key": "curing", "after": "production"},
                          {"key": "pressing", "after": "production"},
                          {"key": "folding", "after": "production"}])
    assert lc.keys[2:6] == ["production", "curing", "pressing", "folding"]


def test_chained_added_stages_stay_together():
    lc = build_lifecycle([{"key": "curing", "after": "production"},
                          {"key": "cooling", "after": "curing"},
                          {"key": "pressing", "after": "production"}])
    assert lc.keys[2:7] == ["production", "curing", "cooling", "pressing", "qc"]


def test_added_stage_can_be_anchored_on_an_added_stage():
    lc = build_lifecycle([{"key": "curing", "after": "production"}, {"key": "folding", "after": "curing"}])
    assert lc.keys[2:6] == ["production", "curing", "folding", "qc"]


@pytest.mark.parametrize("overrides,phrase", [
    ([{"key": "curing"}], "stage 'curing' is new, so it needs after"),
    ([{"key": "curing", "after": None}], "needs after"),
    ([{"key": "curing", "after": "nowhere"}], "after = 'nowhere' is not a stage key"),
    ([{"key": "curing", "after": "qc"}], "must come before qc (after = 'qc' is too late)"),
    ([{"key": "curing", "after": "packaging"}], "too late"),
    ([{"key": "curing", "after": "delivered"}], "too late"),
    ([{"key": "qc", "after": "production"}], "stage 'qc' is a default stage; only new stages take 'after'"),
    ([{"key": "cancelled", "after": "production"}], "reserved for cancelled orders"),
    ([{"key": "folding", "after": "curing"}, {"key": "curing", "after": "production"}],
     "after = 'curing' is not a stage key"),
])
def test_bad_overrides_raise_value_error(overrides, phrase):
    with pytest.raises(ValueError) as info:
        build_lifecycle(overrides)
    assert phrase in str(info.value)


def test_moves_through_an_added_stage():
    lc = build_lifecycle([{"key": "curing", "after": "production", "label": "Curing"}])
    assert job_move(lc, "curing", job_stage="production") == MovePlan("advance", "production", "curing")
    assert job_move(lc, "qc", job_stage="curing") == MovePlan("advance", "curing", "qc")
    message = refused(job_move, lc, "qc", job_stage="production")
    assert "Curing comes next" in message and "needs a manager" in message
    plan = job_move(lc, "qc", job_stage="production", role="manager", reason="no cure needed")
    assert plan == MovePlan("skip", "production", "qc", ("curing",))
    plan = order_move(lc, None, {"A1042A": "production", "A1042B": "curing"})
    assert plan.to_stage == "curing" and set(plan.job_plans) == {"A1042A"}
    assert derived_order_stage(lc, ["curing", "qc"], "production") == "curing"


# -- job moves ----------------------------------------------------------------------------------

@pytest.mark.parametrize("frm,to", list(zip(JOB_STAGES, JOB_STAGES[1:])))
@pytest.mark.parametrize("role", ["operator", "manager", "admin", None])
def test_job_advance_one_stage_needs_no_role_or_reason(lc, frm, to, role):
    plan = job_move(lc, to, job_stage=frm, role=role)
    assert plan == MovePlan("advance", frm, to, ())


def test_job_already_in_stage(lc):
    assert refused(job_move, lc, "production", job_stage="production") == "A1042A is already in Production"


@pytest.mark.parametrize("role", ["operator", None, "guest"])
def test_job_skip_by_non_manager_is_refused(lc, role):
    message = refused(job_move, lc, "qc", job_stage="received", role=role, reason="rush")
    assert message == ("A1042A is in Received; Pre-production comes next. "
                       "Skipping Pre-production, Production needs a manager")


@pytest.mark.parametrize("reason", [None, "", "   \n"])
@pytest.mark.parametrize("role", ["manager", "admin"])
def test_job_skip_by_manager_without_reason_is_refused(lc, role, reason):
    message = refused(job_move, lc, "production", job_stage="received", role=role, reason=reason)
    assert message == "skipping Pre-production needs a reason"


@pytest.mark.parametrize("frm,to,skipped", [
    ("received", "production", ("preproduction",)),
    ("received", "qc", ("preproduction", "production")),
    ("preproduction", "qc", ("production",)),
])
@pytest.mark.parametrize("role", ["manager", "admin"])
def test_job_skip_with_reason(lc, frm, to, skipped, role):
    plan = job_move(lc, to, job_stage=frm, role=role, reason="art supplied print-ready")
    assert plan == MovePlan("skip", frm, to, skipped)


@pytest.mark.parametrize("frm,to", [("qc", "production"), ("qc", "received"), ("production", "preproduction"),
                                    ("preproduction", "received")])
@pytest.mark.parametrize("role", ["operator", "manager"])
def test_job_rework_with_reason_is_allowed_for_anyone(lc, frm, to, role):
    assert job_move(lc, to, job_stage=frm, role=role, reason="QC fail: ink smudge") == MovePlan("rework", frm, to)


@pytest.mark.parametrize("reason", [None, "", "  "])
def test_job_rework_without_reason_is_refused(lc, reason):
    message = refused(job_move, lc, "production", job_stage="qc", role="admin", reason=reason)
    assert message == "moving A1042A back from Quality check to Production needs a reason (rework, QC fail)"


def test_job_at_qc_cannot_be_moved_into_packaging(lc):
    message = refused(job_move, lc, "packaging", job_stage="qc", role="admin", reason="x")
    assert "A1042A has passed QC; packing is done to the whole order" in message


@pytest.mark.parametrize("frm", ["received", "preproduction", "production"])
def test_job_before_qc_cannot_be_moved_into_packaging(lc, frm):
    message = refused(job_move, lc, "packaging", job_stage=frm, role="admin", reason="x")
    assert message == "Packaging is done to the whole order: scan or move the order, not a job"


@pytest.mark.parametrize("frm", JOB_STAGES)
def test_job_cannot_be_moved_into_labeled(lc, frm):
    message = refused(job_move, lc, "labeled", job_stage=frm, role="admin", reason="x")
    assert message == "Label is done to the whole order: scan or move the order, not a job"


@pytest.mark.parametrize("order_stage", ORDER_PEOPLE_STAGES + CARRIER_STAGES)
@pytest.mark.parametrize("to", JOB_STAGES + ["labeled"])
def test_job_of_a_packed_order_cannot_move(lc, order_stage, to):
    message = refused(job_move, lc, to, job_stage=order_stage, order_stage=order_stage, role="admin", reason="x")
    assert "A1042A is packed with its order" in message and "move the order instead" in message
    assert lc.label(order_stage) in message


def test_job_of_a_packed_order_is_refused_even_if_the_job_lags(lc):
    # Inconsistent data (job left at qc while the order was packed) still never lets the job move alone.
    message = refused(job_move, lc, "production", job_stage="qc", order_stage="packaging", reason="x")
    assert "packed with its order (Packaging)" in message


@pytest.mark.parametrize("to", CARRIER_STAGES)
@pytest.mark.parametrize("frm", ["received", "qc"])
def test_job_into_carrier_stage_is_refused(lc, frm, to):
    message = refused(job_move, lc, to, job_stage=frm, role="admin", reason="x")
    assert message == f"{lc.label(to)} is set by the carrier's scans, not by hand"


@pytest.mark.parametrize("to", ["production", "qc", "packaging"])
def test_job_of_cancelled_order_is_refused(lc, to):
    message = refused(job_move, lc, to, job_stage=CANCELLED, order_stage=CANCELLED, role="admin", reason="x")
    assert message == "A1042A belongs to a cancelled order"
    message = refused(job_move, lc, to, job_stage="received", order_stage=CANCELLED, role="admin", reason="x")
    assert message == "A1042A belongs to a cancelled order"


def test_cancelled_job_of_an_active_order_is_refused(lc):
    message = refused(job_move, lc, "production", job_stage=CANCELLED, order_stage="received", role="admin")
    assert message == "A1042A is cancelled"


@pytest.mark.parametrize("to", ["cancelled", "shipped", ""])
def test_job_to_unknown_stage_is_refused(lc, to):
    assert "is not a stage" in refused(job_move, lc, to, job_stage="received")


def _expected_job_outcome(frm: str, to: str, role: str | None, reason: str | None) -> str:
    """The rules from the module docstring, written independently as a table oracle."""
    i, j = JOB_STAGES.index(frm), JOB_STAGES.index(to)
    has_reason = bool((reason or "").strip())
    if i == j:
        return "refused"
    if j == i + 1:
        return "advance"
    if j > i + 1:
        return "skip" if role in ("manager", "admin") and has_reason else "refused"
    return "rework" if has_reason else "refused"


@pytest.mark.parametrize("frm,to", list(itertools.product(JOB_STAGES, JOB_STAGES)))
@pytest.mark.parametrize("role,reason", list(itertools.product(["operator", "manager", "admin", None],
                                                               [None, "reprint"])))
def test_every_job_stage_pair(lc, frm, to, role, reason):
    expected = _expected_job_outcome(frm, to, role, reason)
    if expected == "refused":
        refused(job_move, lc, to, job_stage=frm, role=role, reason=reason)
    else:
        plan = job_move(lc, to, job_stage=frm, role=role, reason=reason)
        assert (plan.kind, plan.from_stage, plan.to_stage) == (expected, frm, to)
        if expected == "skip":
            assert plan.skipped == tuple(JOB_STAGES[JOB_STAGES.index(frm) + 1:JOB_STAGES.index(to)])
        else:
            assert plan.skipped == ()


# -- order moves --------------------------------------------------------------------------------

def test_order_advance_brings_every_job_along(lc):
    plan = order_move(lc, None, {"A1042A": "received", "A1042B": "received"})
    assert (plan.kind, plan.from_stage, plan.to_stage, plan.skipped) == ("advance", "received", "preproduction", ())
    assert plan.job_plans == {"A1042A": MovePlan("advance", "received", "preproduction"),
                              "A1042B": MovePlan("advance", "received", "preproduction")}


def test_order_advance_brings_only_the_lagging_jobs(lc):
    jobs = {"A1042A": "production", "A1042B": "qc", "A1042C": "production"}
    plan = order_move(lc, None, jobs)
    assert plan.to_stage == "qc" and plan.kind == "advance"
    assert plan.job_plans == {"A1042A": MovePlan("advance", "production", "qc"),
                              "A1042C": MovePlan("advance", "production", "qc")}


def test_order_move_to_a_stage_some_jobs_passed_moves_only_the_ones_behind(lc):
    jobs = {"A1042A": "received", "A1042B": "production", "A1042C": "qc"}
    plan = order_move(lc, "preproduction", jobs)
    assert set(plan.job_plans) == {"A1042A"}
    assert plan.kind == "advance"


def test_order_skip_by_operator_is_refused_naming_the_job(lc):
    message = refused(order_move, lc, "production", {"A1042A": "received", "A1042B": "preproduction"},
                      reason="rush")
    assert "A1042A is in Received; Pre-production comes next" in message and "needs a manager" in message


def test_order_skip_by_manager_without_reason_is_refused(lc):
    message = refused(order_move, lc, "qc", {"A1042A": "received"}, role="manager")
    assert message == "skipping Pre-production, Production needs a reason"


def test_order_skip_with_reason_mixes_skips_and_advances(lc):
    jobs = {"A1042A": "received", "A1042B": "production", "A1042C": "preproduction"}
    plan = order_move(lc, "qc", jobs, role="manager", reason="customer pickup at noon")
    assert plan.kind == "skip"
    assert plan.skipped == ("preproduction", "production")  # no duplicates, in stage order
    assert plan.job_plans["A1042A"] == MovePlan("skip", "received", "qc", ("preproduction", "production"))
    assert plan.job_plans["A1042B"] == MovePlan("advance", "production", "qc")
    assert plan.job_plans["A1042C"] == MovePlan("skip", "preproduction", "qc", ("production",))


def test_order_move_to_the_stage_it_is_in_is_refused(lc):
    message = refused(order_move, lc, "production", {"A1042A": "production", "A1042B": "qc"}, role="admin", reason="x")
    assert message == "every job of A1042 is already at Production or beyond"


@pytest.mark.parametrize("to", ["preproduction", "received"])
def test_order_moved_back_sends_every_job_ahead_of_the_target_back(lc, to):
    jobs = {"A1042A": "production", "A1042B": "qc"}
    plan = order_move(lc, to, jobs, role="operator", reason="artwork changed")
    assert plan.kind == "rework"
    assert plan.job_plans == {"A1042A": MovePlan("rework", "production", to), "A1042B": MovePlan("rework", "qc", to)}
    message = refused(order_move, lc, to, jobs, role="operator", reason=None)
    assert "needs a reason" in message


def test_packing_refused_while_a_job_is_not_at_qc(lc):
    jobs = {"A1042C": "received", "A1042A": "qc", "A1042B": "production"}
    message = refused(order_move, lc, "packaging", jobs, order_stage="received", role="admin", reason="x")
    assert message == ("A1042 cannot be packed until every job has passed QC: "
                       "A1042B is in Production; A1042C is in Received")


def test_packing_refusal_uses_the_shops_labels(lc):
    lc2 = build_lifecycle([{"key": "production", "label": "On press"}])
    message = refused(order_move, lc2, "packaging", {"A1042A": "qc", "A1042B": "production"})
    assert message.endswith("A1042B is in On press")


@pytest.mark.parametrize("to", ["packaging", None])
def test_packing_when_every_job_is_at_qc(lc, to):
    jobs = {"A1042A": "qc", "A1042B": "qc"}
    plan = order_move(lc, to, jobs, role="operator")
    assert (plan.kind, plan.from_stage, plan.to_stage) == ("advance", "qc", "packaging")
    assert plan.job_plans == {c: MovePlan("advance", "qc", "packaging") for c in jobs}


def test_labeled_before_packing_is_refused(lc):
    message = refused(order_move, lc, "labeled", {"A1042A": "qc"}, role="admin", reason="x")
    assert message == "A1042 must be packed before Label"
    message = refused(order_move, lc, "labeled", {"A1042A": "qc", "A1042B": "production"}, role="admin", reason="x")
    assert "cannot be packed until every job has passed QC: A1042B is in Production" in message


def test_packed_order_advances_to_labeled_as_one(lc):
    plan = order_move(lc, None, {"A1042A": "packaging", "A1042B": "packaging"}, order_stage="packaging")
    assert (plan.kind, plan.to_stage) == ("advance", "labeled")
    assert plan.job_plans == {c: MovePlan("advance", "packaging", "labeled") for c in ("A1042A", "A1042B")}


def test_order_already_in_stage(lc):
    message = refused(order_move, lc, "packaging", {"A1042A": "packaging"}, order_stage="packaging")
    assert message == "A1042 is already in Packaging"


@pytest.mark.parametrize("frm,to", [("labeled", "packaging"), ("packaging", "production"), ("labeled", "qc"),
                                    ("packaging", "received")])
def test_order_rework_needs_a_reason(lc, frm, to):
    jobs = {"A1042A": frm, "A1042B": frm}
    message = refused(order_move, lc, to, jobs, order_stage=frm, role="admin")
    assert message == f"moving A1042 back from {lc.label(frm)} to {lc.label(to)} needs a reason (rework, QC fail)"
    plan = order_move(lc, to, jobs, order_stage=frm, role="operator", reason="box crushed")
    assert (plan.kind, plan.from_stage, plan.to_stage) == ("rework", frm, to)
    assert plan.job_plans == {c: MovePlan("rework", frm, to) for c in jobs}


def test_next_stage_after_labeled_is_the_carriers(lc):
    message = refused(order_move, lc, None, {"A1042A": "labeled"}, order_stage="labeled", role="admin")
    assert message == "Carrier pickup is set by the carrier's scans, not by hand"


@pytest.mark.parametrize("to", CARRIER_STAGES)
@pytest.mark.parametrize("source", [s for s in SOURCES if s != "carrier"])
def test_carrier_stages_by_hand_are_refused(lc, to, source):
    message = refused(order_move, lc, to, {"A1042A": "labeled"}, order_stage="labeled", role="admin",
                      reason="x", source=source)
    assert message == f"{lc.label(to)} is set by the carrier's scans, not by hand"


@pytest.mark.parametrize("frm,to", [
    ("labeled", "picked_up"), ("labeled", "delivered"), ("picked_up", "in_transit"),
    ("in_transit", "out_for_delivery"), ("out_for_delivery", "delivered"), ("in_transit", "delivered"),
    ("packaging", "labeled"), ("packaging", "in_transit"),
])
def test_carrier_moves_forward(lc, frm, to):
    jobs = {"A1042A": frm, "A1042B": frm}
    plan = order_move(lc, to, jobs, order_stage=frm, role=None, source="carrier")
    assert (plan.kind, plan.from_stage, plan.to_stage) == ("carrier", frm, to)
    assert plan.job_plans == {c: MovePlan("carrier", frm, to) for c in jobs}


def test_carrier_next_stage_when_to_is_omitted(lc):
    plan = order_move(lc, None, {"A1042A": "in_transit"}, order_stage="in_transit", role=None, source="carrier")
    assert plan.to_stage == "out_for_delivery" and plan.kind == "carrier"


@pytest.mark.parametrize("frm,to", [("in_transit", "picked_up"), ("delivered", "in_transit"),
                                    ("in_transit", "in_transit"), ("out_for_delivery", "labeled"),
                                    ("labeled", "labeled")])
def test_carrier_never_moves_an_order_back(lc, frm, to):
    message = refused(order_move, lc, to, {"A1042A": frm}, order_stage=frm, source="carrier")
    assert message == f"A1042 is already at {lc.label(frm)}; carrier events never move it back"


@pytest.mark.parametrize("to", ["received", "production", "qc", "packaging"])
def test_carrier_cannot_set_people_stages_other_than_labeled(lc, to):
    message = refused(order_move, lc, to, {"A1042A": "received"}, order_stage="received", source="carrier")
    assert message == f"a carrier event cannot set {lc.label(to)}"


def test_delivered_has_no_next_stage(lc):
    for source in ("web", "carrier"):
        message = refused(order_move, lc, None, {"A1042A": "delivered"}, order_stage="delivered", source=source)
        assert message == "A1042 is delivered; there is no next stage"


@pytest.mark.parametrize("to", [None, "production", "packaging", "labeled", "picked_up"])
@pytest.mark.parametrize("source", ["web", "carrier"])
def test_cancelled_order_never_moves(lc, to, source):
    message = refused(order_move, lc, to, {"A1042A": CANCELLED}, order_stage=CANCELLED, role="admin",
                      reason="x", source=source)
    assert message == "A1042 is cancelled"


def test_order_move_to_unknown_stage(lc):
    assert "'shipped' is not a stage" in refused(order_move, lc, "shipped", {"A1042A": "received"})


# -- the order's derived stage ------------------------------------------------------------------

@pytest.mark.parametrize("jobs,current,expected", [
    (["production", "qc"], "received", "production"),
    (["qc", "qc"], "production", "qc"),
    (["received"], "qc", "received"),                  # a job sent back for rework pulls the order back
    (["qc", CANCELLED, "production"], "received", "production"),
    ([CANCELLED, CANCELLED], "production", "production"),
    ([], "preproduction", "preproduction"),
    (["packaging", "packaging"], "packaging", "packaging"),
    (["labeled"], "labeled", "labeled"),
    (["in_transit"], "in_transit", "in_transit"),
    (["production"], CANCELLED, CANCELLED),
])
def test_derived_order_stage(lc, jobs, current, expected):
    assert derived_order_stage(lc, jobs, current) == expected


# -- cancelling ---------------------------------------------------------------------------------

@pytest.mark.parametrize("stage", JOB_STAGES + ORDER_PEOPLE_STAGES)
@pytest.mark.parametrize("role", ["manager", "admin"])
def test_manager_cancels_with_a_reason(lc, stage, role):
    assert plan_cancel(lc, order_code="A1042", order_stage=stage, role=role, source="web",
                       reason="customer changed their mind") is None


@pytest.mark.parametrize("source", ["import", "system"])
def test_import_and_system_cancel_without_a_role(lc, source):
    assert plan_cancel(lc, order_code="A1042", order_stage="received", role=None, source=source,
                       reason="cancelled on Shopify") is None
    message = refused(plan_cancel, lc, order_code="A1042", order_stage="received", role=None, source=source,
                      reason=" ")
    assert message == "cancelling an order needs a reason"


@pytest.mark.parametrize("role", ["operator", None])
@pytest.mark.parametrize("source", ["web", "api", "board", "scan"])
def test_operator_cannot_cancel(lc, role, source):
    message = refused(plan_cancel, lc, order_code="A1042", order_stage="received", role=role, source=source,
                      reason="x")
    assert message == "cancelling an order needs a manager"


@pytest.mark.parametrize("reason", [None, "", "  \t"])
def test_cancel_needs_a_reason(lc, reason):
    message = refused(plan_cancel, lc, order_code="A1042", order_stage="qc", role="admin", source="web",
                      reason=reason)
    assert message == "cancelling an order needs a reason"


@pytest.mark.parametrize("stage", CARRIER_STAGES)
def test_cannot_cancel_once_with_the_carrier(lc, stage):
    message = refused(plan_cancel, lc, order_code="A1042", order_stage=stage, role="admin", source="system",
                      reason="x")
    assert message == f"A1042 is already with the carrier ({lc.label(stage)}); it cannot be cancelled here"


def test_cannot_cancel_twice(lc):
    message = refused(plan_cancel, lc, order_code="A1042", order_stage=CANCELLED, role="admin", source="web",
                      reason="x")
    assert message == "A1042 is already cancelled"


# -- properties ---------------------------------------------------------------------------------

_LC = build_lifecycle([{"key": "curing", "after": "production"}])
_STAGE = st.sampled_from(_LC.keys + [CANCELLED])


@hsettings(max_examples=300, deadline=None)
@given(order_stage=_STAGE, jobs=st.dictionaries(st.sampled_from(["A1A", "A1B", "A1C"]), _STAGE, max_size=3),
       to=st.one_of(st.none(), _STAGE), role=st.sampled_from(["operator", "manager", "admin", None]),
       reason=st.sampled_from([None, "", "reprint"]), source=st.sampled_from(SOURCES))
def test_order_moves_only_ever_refuse_or_plan(order_stage, jobs, to, role, reason, source):
    try:
        plan = plan_order_move(_LC, order_code="A1", order_stage=order_stage, job_stages=jobs, to=to, role=role,
                               reason=reason, source=source)
    except MoveRefused as exc:
        assert str(exc)
        return
    assert order_stage != CANCELLED
    assert plan.kind in ("advance", "skip", "rework", "carrier")
    assert plan.to_stage in _LC
    target = _LC.get(plan.to_stage)
    if target.mover == "carrier":
        assert source == "carrier"
    if source == "carrier":
        assert plan.kind == "carrier" and _LC.index(plan.to_stage) > _LC.index(order_stage)
    if plan.kind == "skip":
        assert role in ("manager", "admin") and reason
    if plan.kind == "rework":
        assert reason
    if target.key == "packaging" and _LC.get(order_stage).scope == "job":
        assert all(_LC.is_past_qc(s) for s in jobs.values())
    for code, job_plan in plan.job_plans.items():
        assert code in jobs and job_plan.to_stage == plan.to_stage


@hsettings(max_examples=300, deadline=None)
@given(job_stage=_STAGE, order_stage=_STAGE, to=_STAGE, role=st.sampled_from(["operator", "manager", None]),
       reason=st.sampled_from([None, "reprint"]))
def test_job_moves_stay_within_job_stages(job_stage, order_stage, to, role, reason):
    try:
        plan = plan_job_move(_LC, job_code="A1A", job_stage=job_stage, order_stage=order_stage, to=to,
                             role=role, reason=reason)
    except MoveRefused:
        return
    assert _LC.get(plan.from_stage).scope == "job" and _LC.get(plan.to_stage).scope == "job"
    assert _LC.get(order_stage).scope == "job"


def test_who_advances_what(lc):
    """The board's and the order page's advance button: one stage on, into a stage people move."""
    assert [lc.people_next(k) for k in DEFAULT_KEYS] == [
        "preproduction", "production", "qc", "packaging", "labeled", None, None, None, None, None]
    assert lc.people_next("nope") is None and lc.people_next(CANCELLED) is None
    assert [k for k in DEFAULT_KEYS if lc.moved_by_people(k)] == JOB_STAGES + ORDER_PEOPLE_STAGES
    assert not lc.moved_by_people("nope")
