"""The ROS 2 distros whose message types `facekp bag` knows (no import of rosbags: the CLI
lists them before any bag is read)."""

# Foxy to Humble bags carry no message definitions; the image types (and std_msgs/Header) are
# the same in every ROS 2 distro's store, Humble's reads them all.
DEFAULT_DISTRO = 'humble'
DISTROS = ('foxy', 'galactic', 'humble', 'iron', 'jazzy', 'kilted', 'rolling')
