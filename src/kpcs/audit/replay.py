"""Where the current state of tracked objects comes from, for replaying the log against it.

The app that owns a tracked type registers its source from its AppConfig.ready(), through read-only functions
of its `selectors.py`; the audit app imports no other app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

State = dict[str, Any]


@dataclass(frozen=True)
class Source:
    object_type: str
    current_states: Callable[[], Iterable[tuple[str, State]]]  # (object_id, state) of every current object
    state_of: Callable[[str], State | None]  # one object's state, None if it does not exist


_sources: dict[str, Source] = {}


def register(object_type: str, current_states: Callable[[], Iterable[tuple[str, State]]],
             state_of: Callable[[str], State | None]) -> None:
    _sources[object_type] = Source(object_type, current_states, state_of)


def sources() -> dict[str, Source]:
    return dict(sorted(_sources.items()))
