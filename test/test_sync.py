"""StampSync: images meet their faces by stamp; late or evicted images are reported."""
import pytest

from facekp_ros.core.sync import StampSync


def test_pairs_in_either_order():
    sync = StampSync(max_wait_s=0.5)
    assert sync.add_image('a', 'img-a', 0.0) is None
    assert sync.add_faces('a', 'faces-a', 0.1) == ('img-a', 'faces-a')
    assert sync.add_faces('b', 'faces-b', 0.2) is None
    assert sync.add_image('b', 'img-b', 0.3) == ('img-b', 'faces-b')
    assert sync.expired(10.0) == []


def test_images_without_faces_expire_oldest_first():
    sync = StampSync(max_wait_s=0.5)
    sync.add_image('a', 'img-a', 0.0)
    sync.add_image('b', 'img-b', 0.4)
    assert sync.expired(0.45) == []
    assert sync.expired(0.6) == ['img-a']
    assert sync.expired(1.0) == ['img-b']
    assert sync.add_faces('a', 'faces-a', 1.1) is None  # its image is gone


def test_memory_is_bounded_and_evicted_images_are_reported():
    sync = StampSync(max_wait_s=10.0, max_pending=3)
    for i in range(5):
        sync.add_image(i, f'img-{i}', 0.0)
    assert sync.expired(0.0) == ['img-0', 'img-1']
    for i in range(5):
        sync.add_faces(f'f{i}', 'faces', 0.0)
    assert sync.unmatched_faces == 2


def test_bad_parameters():
    with pytest.raises(ValueError):
        StampSync(max_wait_s=0)
