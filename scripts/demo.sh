#!/usr/bin/env bash
# The main job on its embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/semanticnn demo "$@"
