"""Face detectors on real images: RetinaFace (default) and the classic Haar cascades."""
import cv2
import numpy as np
import onnxruntime
import onnxruntime.datasets
import pytest
from images import box_covers, faces68_test_image

from facekp_ros.core.detection import DetectionConfig, FaceFinder, create_detector
from facekp_ros.core.onnx_runtime import create_session, select_providers
from facekp_ros.core.retinaface import RetinaFaceDetector
from facekp_ros.core.scan import ScanPlan
from facekp_ros.core.types import Detections
from facekp_ros.sources import sample_frame


@pytest.fixture(scope='module')
def retinaface():
    return create_detector('retinaface')


@pytest.fixture(scope='module')
def haar():
    return create_detector('haar')


@pytest.fixture(scope='module')
def finder():
    return FaceFinder(DetectionConfig())


@pytest.fixture(scope='module')
def haar_finder():
    return FaceFinder(DetectionConfig(detector='haar'))


@pytest.mark.parametrize('index', [0, 100, 250, 499])
def test_retinaface_finds_the_labelled_face(finder, data, index):
    image, points = faces68_test_image(data, index)
    result = finder.find(image)
    assert result.ok and result.detector == 'retinaface'
    assert any(box_covers(f.box, points, 0.8) for f in result.faces)


@pytest.mark.parametrize('scene, count', [('obamas', 2), ('avengers2', 4)])
def test_retinaface_finds_every_face_in_scenes(retinaface, data, scene, count):
    faces = retinaface.detect(cv2.imread(str(data / 'scenes' / f'{scene}.jpg')))
    assert len(faces) == count
    assert all(f.score > 0.6 and f.landmarks.shape == (5, 2) for f in faces)
    assert all(f.box.dtype == np.float32 and f.box[2] > 16 for f in faces)


def test_landmarks_follow_the_subjects_sides(retinaface, data):
    image, points = faces68_test_image(data, 0)
    face = max(retinaface.detect(image), key=lambda f: f.score)
    right_eye, left_eye, nose, mouth_right, mouth_left = face.landmarks
    # The subject's right eye (iBUG 36-41) is on the image's left.
    assert right_eye[0] < left_eye[0]
    assert np.linalg.norm(right_eye - points[36:42].mean(0)) < 0.15 * face.box[2]
    assert np.linalg.norm(left_eye - points[42:48].mean(0)) < 0.15 * face.box[2]
    assert mouth_right[0] < mouth_left[0] and right_eye[1] < nose[1] < mouth_right[1]


def test_landmarks_follow_the_face_when_mirrored(retinaface, data):
    image, _ = faces68_test_image(data, 0)
    face = max(retinaface.detect(image[:, ::-1]), key=lambda f: f.score)
    assert face.landmarks[0, 0] < face.landmarks[1, 0]  # still the image-left eye first


def test_input_scale_finds_the_same_faces_in_image_pixels(retinaface):
    full = retinaface.detect(sample_frame())
    half = RetinaFaceDetector(input_scale=0.5).detect(sample_frame())
    assert len(full) == len(half) == 4
    for a in full:
        b = min(half, key=lambda f: np.abs(f.xyxy - a.xyxy).sum())
        assert np.abs(a.xyxy - b.xyxy).max() < 0.1 * a.box[2]
        assert np.abs(a.landmarks - b.landmarks).max() < 0.1 * a.box[2]


@pytest.mark.parametrize('height, width', [(1, 1), (7, 13), (33, 31), (481, 641)])
@pytest.mark.parametrize('scale', [1.0, 0.5])
def test_any_input_size_works(height, width, scale):
    detector = RetinaFaceDetector(input_scale=scale)
    assert detector.detect(np.full((height, width, 3), 128, np.uint8)) == []


def test_no_face_gives_an_empty_list(finder, haar_finder):
    grey = np.full((240, 320, 3), 128, np.uint8)
    for found in (finder.find(grey), haar_finder.find(grey)):
        assert found.ok and found.faces == [] and found.mask_only == []


@pytest.mark.parametrize('step', [2, 8])
def test_faces_behind_a_grid_of_holes_are_still_found(finder, step):
    """A float image's NaN holes (on a grid that covers the quarter of pixels view_range
    samples, with step 2) are shown as their surroundings, not as black lines over a face."""
    from facekp_ros.core.image_codec import CameraImage
    from facekp_ros.core.image_encodings import array_encoding

    grey = cv2.cvtColor(sample_frame(), cv2.COLOR_BGR2GRAY).astype(np.float32) * 10 + 300
    grey[::step, :] = np.nan
    grey[:, ::step] = np.nan
    image = CameraImage(grey, array_encoding(grey, '32FC1'))
    assert len(finder.find(image.bgr8).faces) == 4


def test_haar_finds_faces_and_eyes(haar_finder, data):
    image, points = faces68_test_image(data, 0)
    faces = haar_finder.find(image).faces
    face = next(f for f in faces if box_covers(f.box, points[17:48], 0.8))
    found = ~np.isnan(face.landmarks).any(1)
    assert found[:2].all() and not found[2:].any()  # Haar gives the two eyes only
    assert np.linalg.norm(face.landmarks[0] - points[36:42].mean(0)) < 0.15 * face.box[2]
    assert 0 < face.score <= 1


def test_haar_without_eyes_has_no_landmarks(data):
    image, _ = faces68_test_image(data, 0)
    faces = create_detector('haar', detect_eyes=False).detect(image)
    assert faces and all(f.landmarks.shape == (0, 2) for f in faces)


@pytest.mark.parametrize('image', [np.zeros((0, 0, 3), np.uint8), np.zeros((8, 8), np.uint8),
                                   np.zeros((8, 8, 4), np.uint8),
                                   np.zeros((8, 8, 3), np.float32), None])
def test_bad_images_fail_closed_not_raising(finder, image):
    result = finder.find(image)
    assert isinstance(result, Detections) and not result.ok and result.faces == []
    assert 'uint8 HxWx3' in result.error


def test_a_broken_detector_fails_closed_not_raising():
    broken = FaceFinder(DetectionConfig())
    broken.detector = object()
    result = broken.find(np.zeros((8, 8, 3), np.uint8))
    assert not result.ok and 'AttributeError' in result.error


def test_a_slow_detection_fails_only_with_a_time_out(finder):
    frame = sample_frame()
    assert not finder.find(frame, timeout_ms=0.001).ok
    assert 'ms >' in finder.find(frame, timeout_ms=0.001).error
    assert finder.find(frame).ok  # offline: no time-out at all


def test_masking_is_decided_apart_from_reporting():
    """Faces scoring between mask_threshold and score_threshold are hidden, not reported."""
    small = cv2.resize(sample_frame(), (160, 120))  # faces of 14-31 px, scores 0.36-0.99
    strict = FaceFinder(DetectionConfig(score_threshold=0.9, mask_threshold=0.9,
                                        min_face_size=8)).find(small)
    split = FaceFinder(DetectionConfig(score_threshold=0.9, mask_threshold=0.3,
                                       min_face_size=8)).find(small)
    assert [f.score for f in split.faces] == [f.score for f in strict.faces]
    assert len(strict.faces) == 3 and not strict.mask_only
    assert len(split.mask_only) == 1 and 0.3 <= split.mask_only[0].score < 0.9
    with pytest.raises(ValueError, match='mask_threshold=0.95 is above score_threshold=0.9'):
        DetectionConfig(mask_threshold=0.95)


def test_faces_too_small_to_report_are_still_masked():
    small = cv2.resize(sample_frame(), (160, 120))
    found = FaceFinder(DetectionConfig(min_face_size=22, min_mask_size=4)).find(small)
    assert [f.box[2:].min() >= 22 for f in found.faces] == [True]
    assert len(found.mask_only) == 3 and all(f.box[2:].min() < 22 for f in found.mask_only)


def test_big_images_are_scanned_at_the_working_size(data):
    """The Beatles (3648 x 2406): four faces, no time-out, in seconds."""
    image = cv2.imread(str(data / 'scenes' / 'the_beatles.jpg'))
    found = FaceFinder(DetectionConfig(plan=ScanPlan(small_face_zoom=2.0))).find(image)
    assert found.ok and len(found.faces) == 4


def test_small_face_pass_finds_faces_the_main_pass_misses():
    canvas = np.full((480, 640, 3), 96, np.uint8)
    canvas[100:196, 200:328] = cv2.resize(sample_frame(), (128, 96), interpolation=cv2.INTER_AREA)
    counts = []
    for zoom in (0.0, 2.0):  # four faces of 11-25 px
        found = FaceFinder(DetectionConfig(min_mask_size=4,
                                           plan=ScanPlan(small_face_zoom=zoom))).find(canvas)
        counts.append(len(found.faces) + len(found.mask_only))
    assert counts == [3, 4]


def test_up_to_native_looks_again_only_where_the_working_size_scaled_down():
    plan = ScanPlan(up_to_native=True)
    assert len(plan.passes((480, 640))) == 1  # seen whole at its own size already
    assert plan.zoom((1080, 1920)) == pytest.approx(1.5)  # the second pass at 1x
    assert plan.zoom((2406, 3648)) == 2.0  # at most twice the main pass: 0.7x of a 3648 photo
    assert ScanPlan(up_to_native=True, small_face_zoom=3.0).zoom((480, 640)) == 3.0


def test_scan_plan_tiles_cover_the_image_and_bound_the_work():
    plan = ScanPlan(small_face_zoom=2.0)
    assert [p[0] for p in ScanPlan().passes((480, 640))] == [1.0]
    for hw in ((480, 640), (1080, 1920), (2406, 3648), (5000, 300)):
        passes = plan.passes(hw)
        main, tiles = passes[0], passes[1:]
        assert main[0] == min(1.0, 1280 / max(hw)) and tiles
        covered = np.zeros(hw, bool)
        for scale, (x0, y0, x1, y1), largest in tiles:
            assert scale == pytest.approx(2 * main[0]) and largest < np.inf
            assert max(x1 - x0, y1 - y0) * scale <= plan.tile_size + 1
            covered[y0:y1, x0:x1] = True
        assert covered.all()
        assert plan.network_pixels(hw) < 6 * ScanPlan().network_pixels(hw)


def test_corrupt_or_missing_or_wrong_model_is_refused_at_start(tmp_path):
    corrupt = tmp_path / 'corrupt.onnx'
    corrupt.write_bytes(b'garbage, not protobuf')
    with pytest.raises(ValueError, match=f'{corrupt}.*corrupt'):
        create_detector('retinaface', model_path=str(corrupt))
    with pytest.raises(FileNotFoundError, match='missing.onnx'):
        create_detector('retinaface', model_path=str(tmp_path / 'missing.onnx'))
    not_retinaface = onnxruntime.datasets.get_example('sigmoid.onnx')
    with pytest.raises(ValueError, match='not a RetinaFace model'):
        create_detector('retinaface', model_path=not_retinaface)


def test_unknown_detector_or_parameter_is_named():
    with pytest.raises(ValueError, match="unknown detector 'yolo'.*retinaface, haar"):
        create_detector('yolo')
    with pytest.raises(ValueError, match="no parameter.*score_thresh.*score_threshold"):
        create_detector('retinaface', score_thresh=0.5)
    with pytest.raises(ValueError, match='score_threshold=1.5'):
        create_detector('retinaface', score_threshold=1.5)
    with pytest.raises(ValueError, match="min_neighbors='3'"):
        create_detector('haar', min_neighbors='3')
    with pytest.raises(ValueError, match='scale_factor=1.0'):
        create_detector('haar', scale_factor=1.0)


def test_provider_selection():
    available = onnxruntime.get_available_providers()
    assert select_providers('auto')[-1] == 'CPUExecutionProvider'
    assert select_providers('auto')[0] == next(
        p for p in ('TensorrtExecutionProvider', 'CUDAExecutionProvider',
                    'CPUExecutionProvider') if p in available)
    assert select_providers(' CPUExecutionProvider ') == ['CPUExecutionProvider']
    assert select_providers(['CPUExecutionProvider']) == ['CPUExecutionProvider']
    with pytest.raises(ValueError, match='NoSuchExecutionProvider.*available: .*CPU.*auto'):
        select_providers('NoSuchExecutionProvider, CPUExecutionProvider')
    with pytest.raises(ValueError, match='none named'):
        select_providers(',')


def test_session_honours_providers_and_threads():
    model = onnxruntime.datasets.get_example('sigmoid.onnx')
    session = create_session(model, 'CPUExecutionProvider', threads=1)
    assert session.get_providers() == ['CPUExecutionProvider']
    with pytest.raises(ValueError, match='threads=-1'):
        create_session(model, threads=-1)
