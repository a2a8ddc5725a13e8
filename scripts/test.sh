#!/usr/bin/env bash
# The test suite: set up .venv if needed, then run the fast tests (slow ones: add -m slow).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
exec "$root/.venv/bin/python" -m pytest -n 2 --dist loadgroup "$@"
