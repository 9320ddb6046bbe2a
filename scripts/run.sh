#!/usr/bin/env bash
# The main job: install kpcs into .venv, create the SQLite database, load demo data, serve on
# ${KPCS_HOST:-127.0.0.1}:${KPCS_PORT:-8000} (the demo prints those addresses; `kpcs serve` listens there), with one
# `kpcs worker` beside the server (statistics scans, the hourly expiry of unused certificates), stopped with it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e .
export KPCS_HOST="${KPCS_HOST:-127.0.0.1}" KPCS_PORT="${KPCS_PORT:-8000}"
.venv/bin/kpcs demo
exec .venv/bin/kpcs serve
