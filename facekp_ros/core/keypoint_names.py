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


# The 468 points of MediaPipe's FaceMesh by region: the points of the contours that
# MediaPipe's face_mesh_connections.py draws (Apache-2.0, The MediaPipe Authors), named here
# by the subject's own sides like the 68 points; every other point is on the face's surface.
MESH468_REGIONS = {
    'lips': (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181,
             185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375,
             402, 405, 409, 415),
    'right_eye': (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246),
    'left_eye': (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398,
                 466),
    'right_brow': (46, 52, 53, 55, 63, 65, 66, 70, 105, 107),
    'left_brow': (276, 282, 283, 285, 293, 295, 296, 300, 334, 336),
    'nose': (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294,
             326, 327, 344, 440),
    'face_oval': (10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172,
                  176, 234, 251, 284, 288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379,
                  389, 397, 400, 454),
}


def _mesh468_names() -> tuple:
    region_of = {i: name for name, points in MESH468_REGIONS.items() for i in points}
    return tuple(f'{region_of.get(i, "surface")}_{i:03d}' for i in range(468))


# 'lips_061', 'right_eye_033', ..., 'surface_123': the region, then the mesh's own index.
MESH468_NAMES = _mesh468_names()

# The common fixed map from mesh points to the 68 iBUG points (jaw 0-16 ... inner lips 60-67),
# to score a mesh on 68-point labels. Its jaw is the mesh's face oval, another line than
# iBUG's jaw.
MESH_TO_68 = (162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
              71, 63, 105, 66, 107, 336, 296, 334, 293, 301, 168, 197, 5, 4, 75, 97, 2, 326, 305,
              33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380, 61, 39, 37, 0, 267, 269,
              291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87)
