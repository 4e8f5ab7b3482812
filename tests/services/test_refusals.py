"""One refusal family (domain/refusals.py): the kind decides the status, not the words."""
from __future__ import annotations

import pytest

from tracker.domain.refusals import Conflict, Invalid, NotFound, Refused
from tests.factories import MANAGER
from tracker.services.alerts import AlertClosed, AlertInvalid, AlertNotFound, AlertRefused


@pytest.mark.parametrize("cls, base, status", [(AlertNotFound, NotFound, 404), (AlertClosed, Conflict, 409),
                                               (AlertInvalid, Invalid, 400)])
def test_a_services_refusal_is_of_one_kind_and_says_its_status(cls, base, status):
    exc = cls("There is no such thing here.", field="id")
    assert all(isinstance(exc, c) for c in (AlertRefused, base, Refused, ValueError))  # the page catches all
    assert (exc.status, exc.message, exc.field, str(exc)) == (status, "There is no such thing here.", "id",
                                                              "There is no such thing here.")


def _family_kinds():
    from tracker.domain.intake import InvalidInput
    from tracker.domain.postage import PostageRefused
    from tracker.domain.proofs import ProofConflict, ProofInvalid, ProofNotFound, ProofRefused, ProofTooLarge
    from tracker.services import postage
    from tracker.services import tracking
    from tracker.services.users import UserError

    return [
        (InvalidInput, Invalid, 400), (PostageRefused, Invalid, 400), (UserError, Invalid, 400),
        (ProofInvalid, ProofRefused, 400), (ProofNotFound, ProofRefused, 404), (ProofConflict, ProofRefused, 409),
        (ProofTooLarge, ProofRefused, 413),
        (postage.PostageInvalid, postage.PostageProblem, 400), (postage.PostageNotFound, postage.PostageProblem, 404),
        (postage.PostageConflict, postage.PostageProblem, 409),
        (postage.PostageUnprocessable, postage.PostageProblem, 422),
        (postage.ProviderFailed, postage.PostageProblem, 502), (postage.ProviderBusy, postage.PostageProblem, 503),
        (postage.ProviderTimedOut, postage.PostageProblem, 504),
        (tracking.WebhookNotSetUp, tracking.WebhookRefused, 404), (tracking.BadSignature, tracking.WebhookRefused, 401),
        (tracking.WrongSender, tracking.WebhookRefused, 403),
        (tracking.UnreadableDelivery, tracking.WebhookRefused, 422),
    ]


@pytest.mark.parametrize("index", range(18))
def test_proofs_postage_intake_and_users_refuse_within_the_family(index):
    """The proof, postage, order-intake, user and webhook refusals are kinds of the family: every surface's one
    handler answers them by kind (they once carried a status number chosen where they were raised)."""
    cls, base, status = _family_kinds()[index]
    exc = cls("No.", "field")
    assert isinstance(exc, base) and isinstance(exc, Refused)
    assert (exc.status, exc.message, exc.field) == (status, "No.", "field")


@pytest.mark.parametrize("status, retryable, timed_out, words, kind, answer", [
    (None, True, True, "easypost: POST /v2/shipments failed: read operation timed out", "ProviderTimedOut", 504),
    (None, True, False, "easypost: connection refused", "ProviderFailed", 502),
    (None, True, False, "easypost: the proxy said: timed out", "ProviderFailed", 502),  # the words pick nothing
    (500, True, False, "easypost: 500 Internal Server Error", "ProviderFailed", 502),
    (429, True, False, "easypost: 429 Too Many Requests", "ProviderBusy", 503),
    (401, False, False, "easypost: 401 Unauthorized", "PostageConflict", 409),
    (422, False, False, "easypost: 422 address invalid", "PostageUnprocessable", 422),
])
def test_a_providers_failure_becomes_the_postage_kind_that_says_its_status(status, retryable, timed_out, words,
                                                                           kind, answer):
    """What the provider answered picks the kind of postage problem, and the kind the status (the lost
    answer's re-raise with more words is pinned by tests/shipping/test_postage_api.py, 502 or 504)."""
    from tracker.integrations.http import ProviderError
    from tracker.services import postage

    failure = ProviderError(words, status=status, retryable=retryable, timed_out=timed_out)
    problem = postage._provider_problem("easypost", failure, doing="buying the label")
    assert type(problem) is getattr(postage, kind) and problem.status == answer


@pytest.mark.parametrize("code, to, kind, words", [
    ("A9999A", None, NotFound, "there is no job A9999A"),
    ("A9999", None, NotFound, "there is no order A9999"),
    ("not a code", "preproduction", Invalid, "'not a code' is not an order or job code"),
    ("", "preproduction", Invalid, "no card was given to move"),
])
def test_a_board_card_that_is_no_card_is_not_found_or_invalid_not_a_move_refusal(ctx, code, to, kind, words):
    from tracker.domain.lifecycle import MoveRefused
    from tracker.services.orders import move_card

    with pytest.raises(kind) as caught:
        move_card(code, to, actor=MANAGER)
    assert not isinstance(caught.value, MoveRefused)  # the rules said nothing: there was nothing to move
    assert (str(caught.value), caught.value.field) == (words, "code")

