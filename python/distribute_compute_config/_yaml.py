"""A small YAML writer for batch files: maps, lists, strings, numbers, booleans and ``~``.

Only what a batch file holds is written, in block style, so the output reads like a file
written by hand. A string is written plain when YAML would read it back as the same string,
else double-quoted (JSON's escapes are YAML's), so nothing is ever read back as another type.
"""
from __future__ import annotations

import json
import re
from typing import Any, List

_PLAIN = re.compile(r"^[A-Za-z_./][A-Za-z0-9_./+-]*$")
_SPECIAL = {
    "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE",
    "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "n", "Y", "N",
    ".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN",
}


def scalar(value: Any) -> str:
    """One value as a YAML scalar."""
    if value is None:
        return "~"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value} cannot be written to a batch file")
        return repr(value)
    if isinstance(value, str):
        if _PLAIN.match(value) and value not in _SPECIAL:
            return value
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write a {type(value).__name__} to a batch file")


def _key(key: str) -> str:
    return scalar(key)


def _lines(value: Any, indent: int, out: List[str], prefix: str) -> None:
    """Appends `value` written after `prefix` (a key and colon, or a list dash)."""
    if isinstance(value, dict):
        if not value:
            out.append(f"{prefix} {{}}" if prefix else "{}")
            return
        if prefix:
            out.append(prefix)
        for k, v in value.items():
            _lines(v, indent + (2 if prefix else 0), out, f"{' ' * (indent + (2 if prefix else 0))}{_key(k)}:")
        return
    if isinstance(value, (list, tuple)):
        if not value:
            out.append(f"{prefix} []")
            return
        out.append(prefix)
        for item in value:
            _item(item, indent + 2 if prefix.strip() else indent, out)
        return
    out.append(f"{prefix} {scalar(value)}")


def _item(item: Any, indent: int, out: List[str]) -> None:
    """One list item: `- value`, a map's first key on the dash line."""
    pad = " " * indent
    if isinstance(item, dict) and item:
        first = True
        for k, v in item.items():
            lead = f"{pad}- " if first else f"{pad}  "
            first = False
            sub: List[str] = []
            _lines(v, indent + 2, sub, f"{' ' * (indent + 2)}{_key(k)}:")
            sub[0] = lead + sub[0].lstrip()
            out.extend(sub)
        return
    if isinstance(item, (list, tuple)) and item:
        raise TypeError("a list inside a list is not part of a batch file")
    out.append(f"{pad}- {scalar(item) if not isinstance(item, (dict, list, tuple)) else ('{}' if isinstance(item, dict) else '[]')}")


def dump(document: dict) -> str:
    """The document (a dict) as YAML text ending with a newline."""
    out: List[str] = []
    for k, v in document.items():
        _lines(v, 0, out, f"{_key(k)}:")
    return "\n".join(out) + "\n"
