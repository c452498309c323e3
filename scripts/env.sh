# Source me: activates .venv as a ROS 2 prefix with the project's DDS settings.
#   source scripts/env.sh
_facekp_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_facekp_venv="${FACEKP_VENV:-$_facekp_root/.venv}"
# shellcheck disable=SC1091
source "$_facekp_venv/bin/activate"
export AMENT_PREFIX_PATH="$_facekp_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# Big shared-memory segment + UDP on 127.0.0.1 only: 640x480 images arrive whole and fast.
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$_facekp_root/config/fastdds_loopback_shm.xml}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
# One stable domain id, so a second shell sourcing this file sees the same topics; set
# ROS_DOMAIN_ID before sourcing to choose another (the tests pick a random one per run).
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}"
unset _facekp_root _facekp_venv
