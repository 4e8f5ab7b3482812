"""Text from an outside system's JSON made storable. JSON can carry what no database column holds: a lone
surrogate written as \\ud800 (UTF-8 cannot encode it) and NUL written as \\u0000 (PostgreSQL refuses it in
text). A delivery that carries one in any field is still read, with the character replaced, rather than
failing when its tracking events or order are saved."""
from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """The same JSON value with every string (keys too) made storable: NUL dropped, lone surrogates
    replaced by U+FFFD."""
    if isinstance(value, str):
        if not _UNSTORABLE.search(value):
            return value
        return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value
