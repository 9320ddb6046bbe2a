#!/usr/bin/env bash
# The whole test suite, on SQLite and then on PostgreSQL (KPCS_TEST_POSTGRES_URL, default the local server).
# Each run creates and drops its own test database. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
data_dir=$(mktemp -d -t kpcs-test.XXXXXX)
trap 'rm -rf "$data_dir"' EXIT
export KPCS_DATA_DIR="$data_dir" KPCS_SECRET_KEY="test-secret-key-not-for-production"
pg_url="${KPCS_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/kpcs}"

echo "== lint and types"
.venv/bin/ruff check src tests bench
.venv/bin/mypy src

echo "== SQLite"
KPCS_DATABASE_URL="sqlite:///$data_dir/kpcs.sqlite3" .venv/bin/python -m pytest "$@"
echo "== PostgreSQL ($pg_url)"
KPCS_DATABASE_URL="$pg_url" .venv/bin/python -m pytest "$@"
