#!/usr/bin/env bash
# The main job on the built-in default: set up .venv if needed, then run the pipeline.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
exec "$root/.venv/bin/ptgm" run "$@"
