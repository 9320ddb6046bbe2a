"""Paging for page lists: 25 rows by default, `?page=N` in the query string, other filters kept in the links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

PER_PAGE = 25


def paginate(request: HttpRequest, items: QuerySet[Any] | Sequence[Any], per_page: int = PER_PAGE) -> dict[str, Any]:
    """Context for `web/pager.html`: the page of rows, and the query string of the filters to keep in its links.
    A page number out of range or not a number gives the nearest page, never an error."""
    page: Page[Any] = Paginator(items, per_page).get_page(request.GET.get("page"))
    kept = request.GET.copy()
    kept.pop("page", None)
    return {"page_obj": page, "rows": page.object_list, "kept_query": kept.urlencode()}
