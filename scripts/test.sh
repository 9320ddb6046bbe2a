#!/usr/bin/env bash
# The whole test suite, on SQLite and then on PostgreSQL (KPCS_TEST_POSTGRES_URL, default the local server),
# two pytest-xdist workers each, a module at a time (`--dist loadscope`: module fixtures are made once; the slow
# modules are collected first, see tests/conftest.py). Each run creates and drops its own test databases (one per
# worker).
# Slow tests (marker `slow`: end-to-end, fuzzing) run once: in the SQLite pass, except those marked
# `once_on_postgresql` (run in the PostgreSQL pass instead) and `every_engine` (run in both). Tests that never
# touch the database (pure rules, signing, generated data) run in the SQLite pass only (`--database-tests-only`):
# their outcome cannot depend on the engine.
# Extra arguments go to both pytest runs (e.g. -n 0 for one process, -k crash).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
data_dir=$(mktemp -d -t kpcs-test.XXXXXX)
trap 'rm -rf "$data_dir"' EXIT
export KPCS_DATA_DIR="$data_dir" KPCS_SECRET_KEY="test-secret-key-not-for-production"
pg_url="${KPCS_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/kpcs}"
workers="${KPCS_TEST_WORKERS:-2}"

echo "== lint and types"
.venv/bin/ruff check src tests bench
.venv/bin/mypy src

echo "== SQLite"
KPCS_DATABASE_URL="sqlite:///$data_dir/kpcs.sqlite3" \
  .venv/bin/python -m pytest -n "$workers" --dist loadscope -m "not once_on_postgresql" "$@"
echo "== PostgreSQL ($pg_url)"
KPCS_DATABASE_URL="$pg_url" \
  .venv/bin/python -m pytest -n "$workers" --dist loadscope -m "not slow or once_on_postgresql or every_engine" \
  --database-tests-only "$@"
