"""Participants' names in the reader's language: ISO 3166 names from pycountry's own catalogues (bundled, no
network), the EU by our catalogue, else the name as registered."""

from __future__ import annotations

import gettext
from functools import lru_cache

import pycountry
from django import template
from django.utils.translation import get_language
from django.utils.translation import gettext as _

register = template.Library()


@lru_cache(maxsize=8)
def _catalogue(language: str) -> gettext.NullTranslations:
    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True)


@register.filter
def participant_name(code: str, registered: str = "") -> str:
    """`{{ r.participant|participant_name:r.name }}`: the name in the active language."""
    language = (get_language() or "en").split("-")[0]
    if code == "EU":
        return _("European Union")
    if language == "en":
        return registered or code
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return registered or code
    return _catalogue(language).gettext(country.name)
