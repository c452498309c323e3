"""Names of the 68 iBUG 300-W keypoints, in their order (see msg/Face.msg).

"right"/"left" are the subject's own sides: the right eye (36-41) is on the image's left.
"""
KEYPOINT68_NAMES = (
    tuple(f'jaw_{i:02d}' for i in range(17))
    + tuple(f'right_brow_{i}' for i in range(5))
    + tuple(f'left_brow_{i}' for i in range(5))
    + tuple(f'nose_bridge_{i}' for i in range(4))
    + tuple(f'nose_base_{i}' for i in range(5))
    + tuple(f'right_eye_{i}' for i in range(6))
    + tuple(f'left_eye_{i}' for i in range(6))
    + tuple(f'mouth_outer_{i:02d}' for i in range(12))
    + tuple(f'mouth_inner_{i}' for i in range(8))
)
assert len(KEYPOINT68_NAMES) == 68

# Index ranges of the face regions, for per-region errors and drawing contours.
REGIONS68 = {'jaw': range(0, 17), 'brows': range(17, 27), 'nose': range(27, 36),
             'eyes': range(36, 48), 'mouth': range(48, 68)}


def _mirror_pairs():
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34)]  # nose base
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lips
    return pairs


def flip_permutation68() -> list:
    """Index map for a horizontally mirrored face: point i becomes point perm[i]."""
    perm = list(range(68))
    for a, b in _mirror_pairs():
        perm[a], perm[b] = b, a
    return perm
