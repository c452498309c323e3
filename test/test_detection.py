"""Face detectors on real images: RetinaFace (default) and the classic Haar cascades."""
import cv2
import numpy as np
import pytest
from images import box_covers, faces68_test_image

from facekp_ros.core.detection import create_detector, detect
from facekp_ros.core.onnx_runtime import select_providers
from facekp_ros.core.retinaface import RetinaFaceDetector
from facekp_ros.core.sources import sample_frame


@pytest.fixture(scope='module')
def retinaface():
    return create_detector('retinaface')


@pytest.mark.parametrize('index', [0, 100, 250, 499])
def test_retinaface_finds_the_labelled_face(retinaface, data, index):
    image, points = faces68_test_image(data, index)
    faces = detect(retinaface, image).faces
    assert any(box_covers(f.box, points, 0.8) for f in faces)


@pytest.mark.parametrize('scene, count', [('obamas', 2), ('avengers2', 4)])
def test_retinaface_finds_every_face_in_scenes(retinaface, data, scene, count):
    faces = retinaface.detect(cv2.imread(str(data / 'scenes' / f'{scene}.jpg')))
    assert len(faces) == count
    assert all(f.score > 0.6 and f.landmarks.shape == (5, 2) for f in faces)


def test_landmarks_follow_the_subjects_sides(retinaface, data):
    image, points = faces68_test_image(data, 0)
    face = max(retinaface.detect(image), key=lambda f: f.score)
    right_eye, left_eye, nose, mouth_right, mouth_left = face.landmarks
    # The subject's right eye (iBUG 36-41) is on the image's left.
    assert np.linalg.norm(right_eye - points[36:42].mean(0)) < 0.15 * face.box[2]
    assert np.linalg.norm(left_eye - points[42:48].mean(0)) < 0.15 * face.box[2]
    assert mouth_right[0] < mouth_left[0] and right_eye[1] < nose[1] < mouth_right[1]


def test_input_scale_still_finds_the_sample_faces():
    detector = RetinaFaceDetector(input_scale=0.5)
    assert len(detector.detect(sample_frame())) == 4


def test_no_face_gives_an_empty_list(retinaface):
    assert detect(retinaface, np.full((240, 320, 3), 128, np.uint8)).faces == []


def test_haar_finds_faces_and_eyes(data):
    image, points = faces68_test_image(data, 0)
    faces = create_detector('haar').detect(image)
    face = next(f for f in faces if box_covers(f.box, points[17:48], 0.8))
    found = ~np.isnan(face.landmarks).any(1)
    assert found[:2].any() and not found[2:].any()  # Haar gives eyes only


def test_bad_image_or_model_fails_closed_not_raising(tmp_path, retinaface):
    result = detect(retinaface, np.zeros((0, 0, 3), np.uint8))
    assert not result.ok and 'uint8 HxWx3' in result.error
    corrupt = tmp_path / 'corrupt.onnx'
    corrupt.write_bytes(b'garbage')
    with pytest.raises(ValueError, match='corrupt'):
        RetinaFaceDetector(model_path=str(corrupt))


def test_unknown_detector_and_provider_are_named():
    with pytest.raises(ValueError, match="unknown detector 'yolo'"):
        create_detector('yolo')
    with pytest.raises(ValueError, match='available: .*CPUExecutionProvider'):
        select_providers('NoSuchExecutionProvider')
    assert select_providers('auto')[-1] == 'CPUExecutionProvider'
