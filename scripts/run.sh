#!/usr/bin/env bash
# The main job: install kpcs into .venv, create the SQLite database, load demo data, serve on :8000.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e .
.venv/bin/kpcs demo
exec .venv/bin/kpcs serve --host "${KPCS_HOST:-127.0.0.1}" --port "${KPCS_PORT:-8000}"
