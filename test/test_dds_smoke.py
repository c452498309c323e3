"""Two real processes exchange an Image and the project's FaceArray over DDS on loopback."""
import os
import subprocess
import sys

from conftest import REPO

PEER = str(REPO / 'test' / 'peers' / 'dds_peer.py')


def test_image_and_face_array_travel_between_processes():
    count = 20
    env = dict(os.environ)
    listener = subprocess.Popen([sys.executable, PEER, 'listen', str(count)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    publisher = subprocess.run([sys.executable, PEER, 'publish', str(count)], env=env,
                               capture_output=True, text=True, timeout=60)
    out, err = listener.communicate(timeout=60)
    assert publisher.returncode == 0, publisher.stderr
    assert listener.returncode == 0, err
    # Reliable QoS with depth 10 and a paced publisher: nothing may be lost.
    assert out.split()[-2:] == [str(count), str(count)], out + err
