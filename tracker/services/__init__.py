"""Every write, one function per use case. Services flush; the view, job or command that called them
commits. No network or printer I/O happens here inside a transaction."""

# The largest id an integer key column holds on every database (PostgreSQL's INTEGER). A URL's <int:...>
# takes any number of digits; a bigger one is no row, and SQLite's driver raises OverflowError past 2**63.
MAX_ID = 2**31 - 1


def fits_id(value: int) -> bool:
    return 0 < value <= MAX_ID
