#!/usr/bin/env bash
# Sets up .venv with the test tools (scripts/setup.sh --test) and runs the whole test suite,
# lint included. Extra arguments go to pytest, e.g. scripts/test.sh -k detector
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" --test
# shellcheck disable=SC1091
source "$root/scripts/env.sh"
cd "$root"
exec python -m pytest "$@"
