"""What a refusal is, whatever refuses: a sentence for a person, the field at fault when there is one,
and its kind, which decides the answer's status in every surface (the API, the scan page, forms):

- NotFound: what was named does not exist (404);
- Conflict: it exists, but its state forbids this now (409);
- Invalid: the request itself is wrong (400).

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
