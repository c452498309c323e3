"""rviz marker descriptions: one namespace per kind, track ids as ids, a lifetime, and the
face outline back-projected onto the estimated pose."""
import numpy as np
import pytest

from facekp_ros.core.head_pose import (
    FACE_MODEL68_M,
    default_intrinsics,
    project,
    rotation_from_yaw_pitch_roll,
)
from facekp_ros.core.markers import (
    ARROW,
    LINE_LIST,
    NS_GAZE,
    NS_HEAD_AXES,
    NS_OUTLINE,
    face_markers,
    outline_points,
)
from facekp_ros.core.pipeline import FacePipeline, PipelineConfig
from facekp_ros.core.types import Face, HeadPose
from facekp_ros.sources import sample_frame

CAMERA = default_intrinsics(640, 480)


@pytest.fixture(scope='module')
def sample_faces():
    return FacePipeline(PipelineConfig(annotate=False)).process(sample_frame(), 0.0).faces


def true_pose(yaw, pitch, roll, t=(0.05, -0.03, 0.9)) -> HeadPose:
    return HeadPose(rotation_from_yaw_pitch_roll(yaw, pitch, roll), np.array(t, float), 0.0,
                    CAMERA.camera_matrix, CAMERA.distortion, True)


def test_markers_per_tracked_face_with_stable_ids_and_a_lifetime(sample_faces):
    specs = face_markers(sample_faces + [Face(box=(0, 0, 1, 1), score=1.0, track_id=99)],
                         lifetime_s=0.7)
    by_kind = {}
    for spec in specs:
        by_kind.setdefault(spec.namespace, []).append(spec)
        assert spec.lifetime_s == 0.7 and spec.points.shape[1] == 3
        assert np.isfinite(spec.points).all()
    ids = sorted(f.track_id for f in sample_faces)
    assert set(by_kind) == {NS_HEAD_AXES, NS_GAZE, NS_OUTLINE}
    for kind, markers in by_kind.items():
        assert sorted(m.id for m in markers) == ids, kind  # no marker for a face without pose
    assert {m.type for m in by_kind[NS_GAZE]} == {ARROW}
    assert {m.type for m in by_kind[NS_OUTLINE] + by_kind[NS_HEAD_AXES]} == {LINE_LIST}
    for axes in by_kind[NS_HEAD_AXES]:
        assert len(axes.points) == len(axes.colours) == 6
    untracked = [Face(box=(0, 0, 1, 1), score=1.0, head_pose=sample_faces[0].head_pose)]
    assert face_markers(untracked) == []


def test_outline_lies_on_the_model_at_the_estimated_pose():
    truth = true_pose(30, -10, 5)
    face = Face(box=(0, 0, 1, 1), score=1.0, track_id=3, keypoints=project(truth, FACE_MODEL68_M),
                head_pose=truth)
    ends = outline_points(face)
    model = FACE_MODEL68_M @ truth.rotation.T + truth.translation
    assert len(ends) % 2 == 0 and len(ends) > 100
    assert np.linalg.norm(ends[:, None] - model[None], axis=-1).min(1).max() < 1e-3
    face.keypoints[10] = np.nan  # segments touching a lost point are left out
    assert len(outline_points(face)) == len(ends) - 4


def test_the_gaze_arrow_points_out_of_the_face_and_shows_attention(sample_faces):
    face = sample_faces[0]
    [gaze] = [m for m in face_markers([face]) if m.namespace == NS_GAZE]
    start, tip = gaze.points
    np.testing.assert_allclose(start, face.head_pose.translation)
    np.testing.assert_allclose((tip - start) / np.linalg.norm(tip - start),
                               face.head_pose.rotation[:, 0], atol=1e-9)
    assert tip[2] < start[2]  # towards the camera: the portrait looks into it
    assert gaze.colour[1] > 0.8  # green: looking at the camera
