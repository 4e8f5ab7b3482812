"""One refusal family (domain/refusals.py): the kind decides the status, not the words."""
from __future__ import annotations

import pytest

from tracker.domain.refusals import Conflict, Invalid, NotFound, Refused
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


def test_a_provider_failure_keeps_its_kind_when_its_words_are_added_to():
    """A failed purchase's problem is re-raised with more words; it stays the kind (and status) it was."""
    from tracker.integrations.http import ProviderError
    from tracker.services.postage import ProviderTimedOut, _provider_problem

    problem = _provider_problem("easypost", ProviderError("easypost: timed out", retryable=True),
                                doing="buying the label")
    assert isinstance(problem, ProviderTimedOut) and problem.status == 504
    again = type(problem)(problem.message + ": nothing is lost")
    assert isinstance(again, ProviderTimedOut) and again.status == 504
