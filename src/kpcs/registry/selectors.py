"""Read-only queries the registry publishes to other apps.

The tracked state of signing keys, participant statuses, API tokens and users: what an audit entry about one
of them keeps (`payload["state"]`, written by the registry's services) and what the audit log's replay compares
with the rows. One function per type builds the state from a row; the same function serves both, so the log and
the database are spelled alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.auth import get_user_model

from kpcs.audit.rules import iso
from kpcs.registry.models import ApiToken, Membership, Operator, Participant, ParticipantStatus, SigningKey

State = dict[str, Any]


# --- signing keys (kid) ----------------------------------------------------------------------------------

def signing_key_state(key: SigningKey) -> State:
    return {"authority": key.authority_id, "purpose": key.purpose, "x": key.public_jwk.get("x"),
            "valid_from": iso(key.valid_from), "valid_until": iso(key.valid_until), "revoked_at": iso(key.revoked_at),
            "last_serial": key.last_serial}


def signing_key_states() -> Iterator[tuple[str, State]]:
    for key in SigningKey.objects.order_by("kid").iterator(chunk_size=2000):
        yield key.kid, signing_key_state(key)


def signing_key_state_of(kid: str) -> State | None:
    key = SigningKey.objects.filter(kid=kid).first()
    return signing_key_state(key) if key else None


def node_key(kid: str) -> dict[str, Any] | None:
    """Public JWK and validity of one of this node's own keys (None for any other kid): to check what the node
    signed, such as an audit checkpoint."""
    key = SigningKey.objects.filter(kid=kid, purpose="node").first()
    if key is None:
        return None
    return {"jwk": key.public_jwk, "valid_from": key.valid_from, "valid_until": key.valid_until,
            "revoked_at": key.revoked_at}


# --- participant statuses (id) -----------------------------------------------------------------------

def participant_status_state(status: ParticipantStatus) -> State:
    return {"participant": status.participant_id, "status": status.status, "scope": status.scope,
            "valid_from": iso(status.valid_from), "valid_to": iso(status.valid_to)}


def participant_status_states() -> Iterator[tuple[str, State]]:
    for status in ParticipantStatus.objects.order_by("pk").iterator(chunk_size=2000):
        yield str(status.pk), participant_status_state(status)


def participant_status_state_of(pk: str) -> State | None:
    status = ParticipantStatus.objects.filter(pk=int(pk)).first() if pk.isdigit() else None
    return participant_status_state(status) if status else None


# --- API tokens (id) -----------------------------------------------------------------------------------
# Only the token's SHA-256 is ever stored or logged; when it was last used is bookkeeping, not state.

def api_token_state(token: ApiToken) -> State:
    return {"user": token.user.get_username(), "prefix": token.prefix, "token_hash": token.token_hash,
            "expires_at": iso(token.expires_at), "revoked_at": iso(token.revoked_at)}


def api_token_states() -> Iterator[tuple[str, State]]:
    for token in ApiToken.objects.select_related("user").order_by("pk").iterator(chunk_size=2000):
        yield str(token.pk), api_token_state(token)


def api_token_state_of(pk: str) -> State | None:
    token = ApiToken.objects.select_related("user").filter(pk=int(pk)).first() if pk.isdigit() else None
    return api_token_state(token) if token else None


# --- users (email) -------------------------------------------------------------------------------------
# Who may act and as what; never the password (its hash changes are entries without it).

def _role(role: str, participant: str | None, authority: str | None) -> str:
    return f"{role}/{participant or ''}/{authority or ''}"


def _user_state(user: Any, roles: list[str]) -> State:
    return {"is_active": user.is_active, "is_staff": user.is_staff, "is_superuser": user.is_superuser,
            "roles": sorted(roles)}


def user_state(user: Any) -> State:
    roles = [_role(*m) for m in Membership.objects.filter(user_id=user.pk).values_list(
        "role", "participant_id", "authority_id")]
    return _user_state(user, roles)


def user_states() -> Iterator[tuple[str, State]]:
    roles: dict[int, list[str]] = defaultdict(list)
    for user_id, *grant in Membership.objects.values_list("user_id", "role", "participant_id", "authority_id"):
        roles[user_id].append(_role(*grant))
    for user in get_user_model().objects.order_by("pk").iterator(chunk_size=2000):
        yield user.get_username(), _user_state(user, roles.get(user.pk, []))


def user_state_of(email: str) -> State | None:
    user = get_user_model().objects.filter(username=email).first()
    return user_state(user) if user else None


# --- participants for public pages ---------------------------------------------------------------------

def participants_with_status(day: Any) -> list[dict[str, Any]]:
    """Every participant with its status on `day` and the day that status began (None: active from the
    start), in one query plus the registry snapshot: for public pages."""
    from kpcs.registry import rules, services  # services imports this module

    snap = services.snapshot()
    out = []
    for code, name, kind in Participant.objects.order_by("code").values_list("code", "name", "kind"):
        history = snap.statuses.get(code, [])
        current = rules.status_on(history, day)
        since: Any = None
        if current is not None:
            since = current.valid_from
        else:  # plainly active: since the last restriction ended, if there was one
            since = max((p.valid_to for p in history if p.valid_to is not None and p.valid_to <= day), default=None)
        out.append({"code": code, "name": name, "kind": kind, "status": current.status if current else "active",
                    "scope": current.scope if current else "", "since": since})
    return out


# --- operators for other apps ----------------------------------------------------------------------------

def operators_by_id(ids: Iterable[int]) -> dict[int, Operator]:
    """Operators by id (missing ids are absent), for apps that refer to them (custody); no permission check:
    the caller scopes what it shows."""
    return Operator.objects.in_bulk(list(ids))
