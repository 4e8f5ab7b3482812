"""One way to answer a page or its fragment (htmx-flask's `request.htmx` tells an HTMX request).

A full page includes the same partial template that an HTMX request gets alone, so both show the same
thing. A fragment rendered alone gets `alone=True`, for what only a swap needs (out-of-band extras)."""
from __future__ import annotations

from flask import render_template, request


def is_htmx(target: str | None = None) -> bool:
    """An HTMX request (aimed at the element `target`, when given)."""
    return bool(request.htmx) and (target is None or request.htmx.target == target)


def fragment(template: str, /, **context) -> str:
    """A partial template rendered alone, for a swap."""
    return render_template(template, alone=True, **context)


def page_or_fragment(page: str, partial: str, /, *, target: str, **context) -> str:
    """The whole page, or, for an HTMX request aimed at `target` (the partial's root element's id), the
    partial alone."""
    return fragment(partial, **context) if is_htmx(target) else render_template(page, **context)
