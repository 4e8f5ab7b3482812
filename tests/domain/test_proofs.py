"""Proof rules without Flask: what a proof file may be, and what each answer does."""
from __future__ import annotations

import pytest

from tracker.domain.proofs import (APPROVED, CHANGES_ASKED, PENDING, SUPERSEDED, ProofRefused, check_upload,
                                   plan_answer, proof_type)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 20
WEBP = b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 8
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


@pytest.mark.parametrize("content, kind", [
    (PNG, "png"), (JPEG, "jpg"), (WEBP, "webp"), (PDF, "pdf"), (b"\r\n\r\n" + PDF, "pdf"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", None),
    (b"<html><body>not a proof</body></html>", None), (b"GIF89a", None), (b"RIFF\0\0\0\0WAVE", None),
    (b"\x89PNG", None), (b" " * 2000 + b"%PDF-1.4", None),
])
def test_the_type_is_told_by_the_content(content, kind):
    assert proof_type(content) == kind


def test_an_upload_is_refused_with_the_reason():
    with pytest.raises(ProofRefused) as empty:
        check_upload(b"", max_bytes=100)
    assert (empty.value.status, empty.value.field) == (400, "file") and "empty" in empty.value.message
    with pytest.raises(ProofRefused) as big:
        check_upload(PNG + b"\0" * 200, max_bytes=100)
    assert big.value.status == 413 and "too large" in big.value.message
    with pytest.raises(ProofRefused) as html:
        check_upload(b"<html>", max_bytes=100)
    assert html.value.status == 400 and "PNG, JPEG or WebP image, or a PDF" in html.value.message
    assert check_upload(PNG, max_bytes=len(PNG)) == "png"  # exactly the limit is allowed


def answer(**kw):
    base = dict(answer="approve", comment=None, version=1, state=PENDING, latest_version=1, cancelled=False,
                job_stage="preproduction", proof_stage="preproduction", next_stage="production", moves_on=True)
    return plan_answer(**{**base, **kw})


def test_an_approval_moves_the_job_on_when_the_shop_says_so():
    plan = answer()
    assert (plan.apply, plan.state, plan.move_to) == (True, APPROVED, "production")
    assert answer(moves_on=False).move_to is None and answer(moves_on=False).state == APPROVED
    # Staff moved it on by hand already: the approval is recorded, nothing moves.
    assert answer(job_stage="production").move_to is None


def test_changes_need_a_comment():
    with pytest.raises(ProofRefused) as exc:
        answer(answer="changes", comment=None)
    assert exc.value.field == "comment"
    plan = answer(answer="changes", comment="Bigger logo")
    assert (plan.apply, plan.state, plan.move_to) == (True, CHANGES_ASKED, None)


@pytest.mark.parametrize("kw, words", [
    ({"state": APPROVED}, "already approved version 1"),
    ({"state": CHANGES_ASKED}, "already asked for changes"),
    ({"state": SUPERSEDED, "latest_version": 2}, "version 2 is newer"),
    ({"latest_version": 3}, "version 3 is newer"),
    ({"cancelled": True}, "cancelled"),
])
def test_a_repeated_stale_or_late_answer_changes_nothing_and_says_so(kw, words):
    for a, c in (("approve", None), ("changes", "Other colour")):
        plan = answer(answer=a, comment=c, **kw)
        assert not plan.apply and plan.state is None and plan.move_to is None
        assert words in plan.message and "Nothing was changed" in plan.message


def test_an_unknown_answer_is_refused():
    with pytest.raises(ProofRefused) as exc:
        answer(answer="maybe")
    assert exc.value.field == "answer"


def test_a_proof_may_be_posted_only_before_printing():
    from tracker.domain.lifecycle import build_lifecycle
    from tracker.domain.proofs import postable_refusal

    lc = build_lifecycle([])
    ok = dict(job_code="A1A", order_stage="received", proof_stage="preproduction")
    assert postable_refusal(lc, job_stage="received", **ok) is None
    assert postable_refusal(lc, job_stage="preproduction", **ok) is None
    assert "already past Pre-production (now Production)" in postable_refusal(lc, job_stage="production", **ok)
    assert "cancelled" in postable_refusal(lc, job_stage="cancelled", **ok)
    assert "cancelled" in postable_refusal(lc, job_stage="received", **{**ok, "order_stage": "cancelled"})
