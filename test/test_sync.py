"""StampSync: images meet their own faces by stamp, or are handed back to be masked."""
import random

import pytest

from facekp_ros.core.sync import IncreasingStamps, StampSync


def images(expired: list) -> list:
    return [image for image, _ in expired]

def test_pairs_in_either_order():
    sync = StampSync(max_wait_s=0.5)
    assert sync.add_image('a', 'img-a', 0.0) is None
    assert sync.add_faces('a', 'faces-a', 0.1) == ('img-a', 'faces-a')
    assert sync.add_faces('b', 'faces-b', 0.2) is None
    assert sync.add_image('b', 'img-b', 0.3) == ('img-b', 'faces-b')
    assert images(sync.expired(10.0)) == [] and sync.pending == (0, 0)


def test_out_of_order_arrivals_pair_by_stamp():
    sync = StampSync()
    for sec in (1, 2, 3):
        sync.add_image((sec, 0), f'img-{sec}', 0.0)
    assert sync.add_faces((3, 0), 'faces-3', 0.1) == ('img-3', 'faces-3')
    assert sync.add_faces((1, 0), 'faces-1', 0.1) == ('img-1', 'faces-1')
    assert sync.add_faces((2, 5), 'faces-2.5', 0.1) is None  # no such image (yet)
    assert sync.add_faces((2, 0), 'faces-2', 0.1) == ('img-2', 'faces-2')


def test_images_without_faces_expire_oldest_first_each_once():
    sync = StampSync(max_wait_s=0.5)
    sync.add_image('a', 'img-a', 0.0)
    sync.add_image('b', 'img-b', 0.4)
    assert images(sync.expired(0.45)) == []
    assert images(sync.expired(0.6)) == ['img-a']
    assert images(sync.expired(0.6)) == []
    assert images(sync.expired(1.0)) == ['img-b']
    assert sync.expired_counts == {'timeout': 2}


def test_faces_for_an_image_already_given_up_are_dropped_at_once():
    sync = StampSync(max_wait_s=0.5)
    sync.add_image('a', 'img-a', 0.0)
    assert images(sync.expired(1.0)) == ['img-a']
    assert sync.add_faces('a', 'faces-a', 1.1) is None
    assert sync.unmatched_faces == 1 and sync.pending == (0, 0)


def test_faces_whose_image_never_comes_expire_too():
    sync = StampSync(max_wait_s=0.5)
    sync.add_faces('a', 'faces-a', 0.0)
    sync.expired(0.6)
    assert sync.pending == (0, 0) and sync.unmatched_faces == 1
    assert sync.add_image('a', 'img-a', 0.7) is None  # too late to pair: it will time out


def test_memory_is_bounded_and_evicted_images_are_reported():
    sync = StampSync(max_wait_s=10.0, max_pending=3)
    for i in range(5):
        sync.add_image(i, f'img-{i}', 0.0)
    assert sync.pending == (3, 0)
    assert images(sync.expired(0.0)) == ['img-0', 'img-1']
    assert sync.expired_counts == {'evicted': 2}
    for i in range(5):
        sync.add_faces(f'f{i}', 'faces', 0.0)
    assert sync.pending == (3, 3) and sync.unmatched_faces == 2


def test_a_stamp_seen_twice_is_never_paired():
    """A camera repeating a stamp: which faces belong to which image is unknown."""
    sync = StampSync()
    sync.add_image('t', 'img-1', 0.0)
    assert sync.add_image('t', 'img-2', 0.1) is None
    assert sync.add_faces('t', 'faces-1', 0.2) is None
    assert sync.add_faces('t', 'faces-2', 0.3) is None
    assert images(sync.expired(0.3)) == ['img-1', 'img-2']
    assert sync.expired_counts == {'duplicate': 2} and sync.pending == (0, 0)
    # Also once the first pair is made, and with the faces first.
    assert sync.add_faces('u', 'faces-1', 0.4) is None
    assert sync.add_image('u', 'img-1', 0.4) == ('img-1', 'faces-1')
    assert sync.add_faces('u', 'faces-2', 0.5) is None
    assert sync.add_image('u', 'img-2', 0.5) is None
    assert images(sync.expired(0.5)) == ['img-2']


def test_supersede_hands_back_older_images_as_soon_as_a_newer_one_is_paired():
    sync = StampSync(max_wait_s=5.0, supersede=True)
    for i in range(4):
        sync.add_image(i, f'img-{i}', 0.0)
    assert sync.add_faces(2, 'faces-2', 0.1) == ('img-2', 'faces-2')
    assert images(sync.expired(0.1)) == ['img-0', 'img-1']
    assert sync.expired_counts == {'superseded': 2} and sync.pending == (1, 0)
    sync.add_faces(5, 'faces-5', 0.2)
    assert sync.add_image(5, 'img-5', 0.2) == ('img-5', 'faces-5')
    assert images(sync.expired(0.2)) == ['img-3']
    # Without supersede, older images wait for their faces.
    patient = StampSync(max_wait_s=5.0)
    patient.add_image(0, 'img-0', 0.0)
    patient.add_image(1, 'img-1', 0.0)
    patient.add_faces(1, 'faces-1', 0.1)
    assert images(patient.expired(0.1)) == []
    assert patient.add_faces(0, 'f0', 0.2) == ('img-0', 'f0')


@pytest.mark.parametrize('supersede', [False, True])
def test_random_traffic_every_image_is_paired_with_its_own_faces_or_handed_back_once(supersede):
    rng = random.Random(7)
    sync = StampSync(max_wait_s=0.3, max_pending=4, supersede=supersede)
    events = []  # (arrival time, side, stamp key)
    for frame in range(400):
        t = frame / 30
        events.append((t + rng.uniform(0, 0.05), 'image', frame))
        if rng.random() < 0.8:  # the detector drops some frames
            events.append((t + rng.uniform(0.0, 0.4), 'faces', frame))
    repeated = (150 / 30 + 0.1, 'image', 150)  # a stamp that comes twice
    events.append(repeated)
    paired, handed_back = [], []
    for event in sorted(events):
        t, side, key = event
        pair = (sync.add_image if side == 'image' else sync.add_faces)(key, event, t)
        if pair:
            paired.append(pair)
        handed_back += images(sync.expired(t))
        assert sync.pending[0] <= 4 and sync.pending[1] <= 4
    handed_back += images(sync.expired(1e9))
    assert all(image[2] == faces[2] for image, faces in paired)
    shown = [image for image, _ in paired]
    assert sorted(shown + handed_back) == sorted(e for e in events if e[1] == 'image')
    assert repeated in handed_back
    assert len(paired) > 100 and sync.pending == (0, 0)


@pytest.mark.parametrize('kwargs, field', [
    ({'max_wait_s': 0}, 'max_wait_s'), ({'max_wait_s': float('inf')}, 'max_wait_s'),
    ({'max_pending': 0}, 'max_pending'), ({'max_pending': 1.5}, 'max_pending')])
def test_bad_parameters_are_named(kwargs, field):
    with pytest.raises(ValueError, match=field):
        StampSync(**kwargs)


def test_expired_images_say_why_and_stamps_only_increase():
    sync = StampSync(max_wait_s=0.5, supersede=True)
    sync.add_image(1, 'img-1', 0.0)
    sync.add_image(2, 'img-2', 0.0)
    sync.add_image(3, 'img-3', 0.0)
    assert sync.add_faces(2, 'f2', 0.1) == ('img-2', 'f2')
    assert sync.expired(0.1) == [('img-1', 'superseded')]  # skipped by the detector: dropped
    assert sync.expired(0.7) == [('img-3', 'timeout')]  # its faces never came: masked
    gate = IncreasingStamps()
    assert [gate.admit(*s) for s in ((1, 5), (1, 5), (1, 4), (2, 0), (1, 9))] == \
        [True, False, False, True, False]
