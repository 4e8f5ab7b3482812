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
