"""The node's domain events: an app publishes what happened, other apps handle it in the same transaction.

In process and synchronous, after cosmicpython chapters 8-9 without the message queue: `publish` calls every
handler subscribed to the event's type (or a base of it), in the order they subscribed, inside the publisher's
transaction. What a handler writes commits or rolls back with the change it reacts to, and an exception in a
handler undoes the whole use case (the caller sees that exception, a DomainError mapping to its HTTP code).
Apps subscribe in their AppConfig.ready(), so the publisher imports nothing of the apps that listen to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import transaction

E = TypeVar("E")
Handler = Callable[[Any], None]

_handlers: list[tuple[type, Handler]] = []


def subscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    """Run `handler` for every event of `event_type` (or of a subclass) published from now on; subscribing the
    same handler to the same type twice (a second ready()) keeps one subscription."""
    if (event_type, handler) not in _handlers:
        _handlers.append((event_type, handler))


def unsubscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    if (event_type, handler) in _handlers:
        _handlers.remove((event_type, handler))


def handlers_for(event_type: type) -> list[Handler]:
    """The handlers an event of this type runs, in order."""
    return [h for kind, h in _handlers if issubclass(event_type, kind)]


def publish(event: object) -> None:
    """Hand the event to its handlers, one after the other, in the caller's transaction.

    Published outside a transaction, each handler's writes would commit on their own and a failing handler
    could not undo the change it reacts to: refused."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{type(event).__name__} published outside a transaction: publish it inside the "
                           "transaction of the change, so that its handlers commit or roll back with it")
    for handler in handlers_for(type(event)):
        handler(event)
