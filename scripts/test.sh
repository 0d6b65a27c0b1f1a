#!/usr/bin/env bash
# Set up (if needed) and run the default test suite: fast unit tests plus a representative set of
# end-to-end tests on ../shared/data (skipped cleanly when that folder is absent).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TALKFACE_VENV:-$repo/.venv}"
[ -x "$venv/bin/talkface" ] || bash "$repo/scripts/install.sh" "$venv"
cd "$repo"
exec "$venv/bin/python" -m pytest -q "$@"
