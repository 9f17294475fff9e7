"""Docker token scopes: ``repository:samalba/my-app:pull,push`` and friends.

The grammar (distribution's docs/spec/auth/scope.md) lets a resource name carry a
``host:port`` prefix, so the name is everything between the first and last colon.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ACTIONS = ("pull", "push", "delete")


@dataclass(frozen=True, slots=True)
class Access:
    """One resource and the actions asked for or granted on it."""

    type: str
    name: str
    actions: frozenset[str]

    def scope(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def claim(self) -> dict[str, object]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def parse_scope(text: str) -> list[Access]:
    """Every resource scope in a space-separated list; malformed ones are dropped,
    as distribution's token server does (a partial grant is not an error)."""
    result: list[Access] = []
    for item in text.split():
        type_, sep, rest = item.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not sep or not sep2 or not type_ or not name or len(item) > 512:
            continue
        if "(" in type_:  # repository(plugin) is a repository
            type_ = type_.split("(", 1)[0]
        wanted = frozenset(a for a in actions.split(",") if a)
        if wanted:
            result.append(Access(type_, name, wanted))
    return result


def merge(accesses: Iterable[Access]) -> list[Access]:
    """One entry per resource, actions united, in a stable order."""
    merged: dict[tuple[str, str], set[str]] = {}
    for a in accesses:
        merged.setdefault((a.type, a.name), set()).update(a.actions)
    return [Access(t, n, frozenset(acts)) for (t, n), acts in merged.items()]
