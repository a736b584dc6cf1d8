"""Sections of ``docs/benchmarks.md`` that are not benchmarks: kept when ``make bench``
regenerates the file, replaced when ``make loadtest`` records a new report."""

from __future__ import annotations

import re

_HEADING = re.compile(r"^## (\S+)\s*$", re.MULTILINE)


def sections(text: str) -> dict[str, str]:
    """``name -> whole section text`` (heading included) for every ``## name`` section."""
    found = list(_HEADING.finditer(text))
    out = {}
    for index, match in enumerate(found):
        end = found[index + 1].start() if index + 1 < len(found) else len(text)
        out[match.group(1)] = text[match.start() : end].rstrip() + "\n"
    return out


def replace_section(text: str, name: str, section: str) -> str:
    """``text`` with section ``name`` replaced by ``section`` (or appended when absent)."""
    section = section.rstrip() + "\n"
    found = list(_HEADING.finditer(text))
    for index, match in enumerate(found):
        if match.group(1) == name:
            end = found[index + 1].start() if index + 1 < len(found) else len(text)
            rest = text[end:]
            return text[: match.start()] + section + ("\n" + rest if rest else "")
    return text.rstrip() + "\n\n" + section


def carry_sections(old: str, new: str, names: tuple[str, ...]) -> str:
    """``new`` plus the sections ``names`` of ``old`` that ``new`` lacks (bench keeps them)."""
    kept = sections(old)
    present = sections(new)
    for name in names:
        if name in kept and name not in present:
            new = replace_section(new, name, kept[name])
    return new
