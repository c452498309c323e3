"""RetinaFace's multibox loss: anchor matching (IoU 0.35, each face keeps its best anchor),
smooth L1 on variance-encoded boxes and landmarks, cross-entropy with 3:1 hard negatives.

Anchors, variances and the output order are the runtime's own (facekp_ros.core.retinaface),
so what is trained here is what the runtime decodes. Anchors that overlap an ignored face are
left out of the negatives; frames without faces still give a few hardest negatives each, so
face-free texture is trained as background. `background_distillation` keeps the stock
model's judgement on every background anchor, so the new sensitivity to small, dark and grey
faces does not turn into boxes on hands, logos and texture.
"""
import numpy as np
import torch
from torch.nn import functional

from facekp_ros.core.retinaface import CENTER_VARIANCE, SIZE_VARIANCE, anchors_for

MATCH_IOU = 0.35
NEGATIVES_PER_POSITIVE = 3
MIN_NEGATIVES = 16  # per frame, so face-free frames teach background too
LOC_WEIGHT = 2.0


def corners(anchors: np.ndarray) -> np.ndarray:
    return np.hstack([anchors[:, :2] - anchors[:, 2:] / 2, anchors[:, :2] + anchors[:, 2:] / 2])


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of x0, y0, x1, y1 boxes."""
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    high = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(high - low, 0, None).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    return inter / (area_a[:, None] + area_b[None] - inter)


def match(anchors: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray,
          ignored: np.ndarray) -> tuple:
    """Per anchor: label (1 face, 0 background, -1 ignored), box and landmark targets."""
    count = len(anchors)
    labels = np.zeros(count, np.int64)
    loc = np.zeros((count, 4), np.float32)
    points = np.zeros((count, 10), np.float32)
    anchor_boxes = corners(anchors)
    if len(ignored):
        labels[iou(anchor_boxes, ignored).max(1) >= MATCH_IOU * 0.7] = -1
    if not len(boxes):
        return labels, loc, points
    overlaps = iou(anchor_boxes, boxes)  # (A, M)
    best_face = overlaps.argmax(1)
    best_overlap = overlaps.max(1)
    best_anchor = overlaps.argmax(0)
    best_face[best_anchor] = np.arange(len(boxes))  # every face keeps at least one anchor
    best_overlap[best_anchor] = 1.0
    positive = best_overlap >= MATCH_IOU
    labels[positive] = 1
    # Near-misses of a face are neither positive nor easy negatives.
    labels[(best_overlap >= MATCH_IOU * 0.7) & ~positive] = -1
    target = boxes[best_face[positive]]
    a = anchors[positive]
    centre = ((target[:, :2] + target[:, 2:]) / 2 - a[:, :2]) / (CENTER_VARIANCE * a[:, 2:])
    size = np.log(np.maximum(target[:, 2:] - target[:, :2], 1e-3) / a[:, 2:]) / SIZE_VARIANCE
    loc[positive] = np.hstack([centre, size])
    five = landmarks[best_face[positive]]  # (P, 5, 2)
    points[positive] = ((five - a[:, None, :2]) / (CENTER_VARIANCE * a[:, None, 2:])
                        ).reshape(-1, 10)
    return labels, loc, points


def targets_for(samples, height: int, width: int) -> tuple:
    """Batched tensors (labels (N, A), loc (N, A, 4), landmarks (N, A, 10))."""
    anchors = anchors_for(height, width)
    matched = [match(anchors, s.boxes, s.landmarks, s.ignored) for s in samples]
    return tuple(torch.from_numpy(np.stack(parts)) for parts in zip(*matched))


def multibox_loss(outputs, targets) -> dict:
    """outputs: (loc, conf logits, landmarks) of the model; targets: targets_for(...)."""
    loc_p, conf_p, landm_p = outputs
    labels, loc_t, landm_t = targets
    positive = labels == 1
    n_pos = positive.sum(1)
    total_pos = max(int(n_pos.sum()), 1)
    smooth_l1 = functional.smooth_l1_loss
    loss_loc = smooth_l1(loc_p[positive], loc_t[positive], reduction='sum') / total_pos
    loss_landm = smooth_l1(landm_p[positive], landm_t[positive], reduction='sum') / total_pos
    # Hard negatives: the background anchors the model finds most face-like.
    ce = functional.cross_entropy(conf_p.reshape(-1, 2), labels.clamp(min=0).reshape(-1),
                                  reduction='none').reshape(labels.shape)
    mining = ce.detach().clone()
    mining[labels != 0] = -1.0
    order = mining.argsort(1, descending=True).argsort(1)
    n_neg = torch.clamp(NEGATIVES_PER_POSITIVE * n_pos, min=MIN_NEGATIVES)
    n_neg = torch.minimum(n_neg, (labels == 0).sum(1))
    negative = order < n_neg[:, None]
    loss_conf = ce[positive | negative].sum() / total_pos
    total = LOC_WEIGHT * loss_loc + loss_conf + loss_landm
    return {'total': total, 'loc': loss_loc.detach(), 'conf': loss_conf.detach(),
            'landmarks': loss_landm.detach()}


def background_distillation(student_logits, teacher_logits, labels) -> torch.Tensor:
    """KL(teacher || student) of the face/background probabilities, summed over background
    anchors (label 0) and divided by the number of positives, as the other terms are."""
    background = labels == 0
    teacher = functional.softmax(teacher_logits[background], -1)
    student = functional.log_softmax(student_logits[background], -1)
    kl = (teacher * (torch.log(teacher.clamp(min=1e-8)) - student)).sum()
    return kl / max(int((labels == 1).sum()), 1)
