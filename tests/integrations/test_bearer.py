"""oauth.with_bearer, the one way a provider call renews a refused token (client-credentials carriers and
Etsy's rotating tokens both go through it; their own tests cover them end to end against fake servers)."""
from __future__ import annotations

import pytest

from tracker.integrations.http import ProviderError
from tracker.integrations.oauth import with_bearer


def _calls(*answers):
    seen = []

    def call(token):
        seen.append(token)
        answer = answers[len(seen) - 1]
        if isinstance(answer, ProviderError):
            raise answer
        return answer
    return call, seen


def test_a_401_renews_once_and_tries_again():
    call, seen = _calls(ProviderError("expired", status=401), "ok")
    renewed = []
    assert with_bearer(lambda: "old", lambda t: renewed.append(t) or "new", call) == "ok"
    assert seen == ["old", "new"] and renewed == ["old"]


def test_a_second_401_or_another_refusal_is_the_callers_and_explained():
    call, seen = _calls(ProviderError("expired", status=401), ProviderError("still no", status=401))
    with pytest.raises(ProviderError, match="explained: still no"):
        with_bearer(lambda: "a", lambda t: "b", call, explain=lambda e: ProviderError(f"explained: {e}", e.status))
    assert seen == ["a", "b"]
    call, seen = _calls(ProviderError("bad request", status=400))
    with pytest.raises(ProviderError, match="bad request"):
        with_bearer(lambda: "a", lambda t: pytest.fail("a 400 is no reason to renew"), call)
    call, _ = _calls(ProviderError("about the key", status=401))
    with pytest.raises(ProviderError, match="about the key"):
        with_bearer(lambda: "a", lambda t: pytest.fail("not renewable"), call, renews_on=lambda e: False)
