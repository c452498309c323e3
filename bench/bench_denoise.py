"""Does de-noising before detection help? Recall on noisy faces68 test images, with and
without facekp_ros.core.preprocess.denoise, and what de-noising costs per image.

    python -m bench.bench_denoise [--data /work/shared/data] [--limit 150]
"""
import argparse
import pathlib
import time

import numpy as np

from bench.bench_detectors import DEFAULT_DATA, MATCH_RULE, evaluate, load_test_set
from facekp_ros.core.detection import create_detector
from facekp_ros.core.preprocess import denoise

SIGMAS = (15, 30)
SEED = 0
DETECTORS = ('retinaface', 'haar')
# A recall change smaller than this (in points of %) is within a face or two of 150: noise.
MEANINGFUL_POINTS = 1.0


def add_noise(images, sigma: float, rng) -> list:
    """Gaussian noise of this sigma (grey levels), clipped back to uint8."""
    return [np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)
            for image in images]


def denoise_all(images, strength: float) -> tuple:
    """De-noised copies and the median ms per image."""
    out, times_ms = [], []
    for image in images:
        start = time.perf_counter()
        out.append(denoise(image, strength))
        times_ms.append((time.perf_counter() - start) * 1e3)
    return out, float(np.median(times_ms))


def conclusion(rows) -> str:
    """One line from the numbers: where de-noising changed recall, and at what cost."""
    changes = [(d, s, (after - before) * 100) for d, s, before, after, _ in rows]
    helped = [f'{d} at sigma {s} ({c:+.1f} pts)' for d, s, c in changes
              if c >= MEANINGFUL_POINTS]
    hurt = [f'{d} at sigma {s} ({c:+.1f} pts)' for d, s, c in changes
            if c <= -MEANINGFUL_POINTS]
    cost = max(r[4] for r in rows)
    if not helped and not hurt:
        return (f'Conclusion: de-noising does not change recall by >= {MEANINGFUL_POINTS:.0f} '
                f'pt anywhere, and costs up to {cost:.0f} ms per image: leave it off.')
    advice = 'worth it only where it helps' if helped else 'leave it off'
    return (f'Conclusion: de-noising helps {", ".join(helped) or "nowhere"}; hurts '
            f'{", ".join(hurt) or "nowhere"}; it costs up to {cost:.0f} ms per image: '
            f'{advice}.')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument('--limit', type=int, default=150, help='first N test images')
    args = parser.parse_args(argv)
    images, points = load_test_set(args.data, args.limit)
    rng = np.random.default_rng(SEED)
    detectors = {name: create_detector(name) for name in DETECTORS}
    print(f'First {len(images)} faces68 test images; Gaussian noise (seed {SEED}); '
          'denoise strength = sigma; detectors at their defaults.\n')
    print('| detector | noise sigma | recall clean | recall noisy | recall noisy + denoise '
          '| change | denoise ms / image (median) |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    clean = {name: evaluate(d, images, points)['recall'] for name, d in detectors.items()}
    rows = []
    for sigma in SIGMAS:
        noisy = add_noise(images, sigma, rng)
        cleaned, denoise_ms = denoise_all(noisy, sigma)
        for name, detector in detectors.items():
            before = evaluate(detector, noisy, points)['recall']
            after = evaluate(detector, cleaned, points)['recall']
            rows.append((name, sigma, before, after, denoise_ms))
            print(f'| {name} | {sigma} | {clean[name]:.1%} | {before:.1%} | {after:.1%} '
                  f'| {(after - before) * 100:+.1f} pts | {denoise_ms:.1f} |', flush=True)
    print(f'\n{MATCH_RULE}')
    print(conclusion(rows))
    print('Note: times are noisy when other jobs share the CPU (e.g. a training run).')


if __name__ == '__main__':
    main()
