"""What a refusal is, whatever refuses: a sentence for a person, the field at fault when there is one,
and its kind, which decides the answer's status in every surface (the API, the scan page, forms):

- NotFound: what was named does not exist (404);
- Conflict: it exists, but its state forbids this now (409);
- Invalid: the request itself is wrong (400); TooLarge, an upload over its limit (413); WrongMediaType, a
  body of a type it does not read (415);
- Unauthorized: it does not say who sent it, or its signature is wrong (401); Forbidden: it says, and that
  sender may not do this (403);
- Unprocessable: the request is well formed, but what it names cannot be used for it (422: a code nothing
  has, an address a carrier cannot deliver to, a provider that refused);
- Unavailable: an outside service did not answer usefully (503 busy, 502 a bad answer, 504 no answer in
  time): nothing was done, and trying again later may work.

A service raises one of these (or a subclass of its own); the views map the kind, never the message's
words, to a status."""
from __future__ import annotations


class Refused(ValueError):
    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


class Invalid(Refused):
    status = 400


class NotFound(Refused):
    status = 404


class Conflict(Refused):
    status = 409


class Unauthorized(Refused):
    status = 401


class Forbidden(Refused):
    status = 403


class TooLarge(Invalid):
    status = 413


class WrongMediaType(Invalid):
    status = 415


class Unprocessable(Refused):
    status = 422


class Unavailable(Refused):
    """An outside service asked us to slow down (503)."""
    status = 503


class BadGateway(Unavailable):
    """An outside service answered with an error or something unreadable (502)."""
    status = 502


class GatewayTimeout(Unavailable):
    """An outside service did not answer in time (504)."""
    status = 504
