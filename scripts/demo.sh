#!/usr/bin/env bash
# Sets up .venv (scripts/setup.sh) and runs the main job: the in-process pipeline node on the
# built-in sample over real DDS, printing what it published and writing out/annotated.jpg and
# out/anonymized.jpg. Extra arguments go to facekp_ros.demo (--frames, --out, --source).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
# shellcheck disable=SC1091
source "$root/scripts/env.sh"
cd "$root"
exec python -m facekp_ros.demo "$@"
