"""What a compressed camera costs the nodes, on the 640x480 four-face sample; prints a table.

    python -m bench.bench_transport [--frames 40]

Per frame and node, the CPU time of the work that differs between image_transport raw and
compressed (decoding the input, the camera's and the anonymizer's JPEG encoding) beside the
work both do (detection; hiding), measured in interleaved blocks so that both see the same
load. CPU time, not wall time: the machine is shared, and CPU time depends far less on the
other jobs. The rate ratio follows from the CPU time per frame of each node.
"""
import argparse
import os
import resource
import time

from facekp_ros import image_bridge as bridge
from facekp_ros import parameters
from facekp_ros.core.image_codec import decode, encode_transport, from_bgr8
from facekp_ros.core.stages import AnonymizeStage, DetectStage
from facekp_ros.sources import sample_frame


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def per_frame_ms(work, frames: int) -> float:
    start = cpu_s()
    for _ in range(frames):
        work()
    return (cpu_s() - start) / frames * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--frames', type=int, default=40)
    args = p.parse_args()
    frame = sample_frame()
    raw = bridge.cv2_to_imgmsg(frame, 'bgr8')
    values = parameters.defaults(parameters.NODES['face_pipeline'])
    image_format, data = encode_transport(from_bgr8(frame), 'jpeg', values['jpeg_quality'])
    compressed = bridge.CompressedImage(format=image_format, data=data.tobytes())
    detect = DetectStage(parameters.detection_config(values, threads=1),
                         values['hold_frames'], values['detection_timeout_ms'])
    faces = detect.run(frame)
    hide = AnonymizeStage(parameters.anonymize_config(values))
    work = {
        'decode': {'raw': lambda: decode(raw).bgr8, 'compressed': lambda: decode(compressed).bgr8},
        'detect': lambda: detect.run(decode(raw).bgr8),
        'hide + raw output': lambda: bridge.camera_image_to_msg(
            hide.run(decode(raw), faces)[0], None),
        'camera: JPEG encode': lambda: encode_transport(from_bgr8(frame), 'jpeg',
                                                        values['jpeg_quality']),
    }
    totals = {}
    for _ in range(3):  # interleaved blocks
        for name, item in work.items():
            for kind, fn in (item.items() if isinstance(item, dict) else [('', item)]):
                fn()
                totals.setdefault((name, kind), []).append(per_frame_ms(fn, args.frames // 3))
    ms = {key: sorted(v)[len(v) // 2] for key, v in totals.items()}
    decode_extra = ms['decode', 'compressed'] - ms['decode', 'raw']
    print(f'640x480 bgr8 sample, 4 faces; JPEG q{values["jpeg_quality"]}: {len(data)} bytes '
          f'(raw {len(raw.data)}); {os.cpu_count()} cores, load '
          f'{os.getloadavg()[0]:.1f}; median of 3 interleaved blocks, {time.strftime("%F")}\n')
    print('| work per frame | CPU ms |\n|---|---|')
    for (name, kind), value in ms.items():
        print(f'| {name}{" (" + kind + ")" if kind else ""} | {value:.2f} |')
    detector = ms['detect', '']
    anonymizer = ms['hide + raw output', '']
    print('\n| node | raw CPU ms | compressed CPU ms | rate, compressed / raw |')
    print('|---|---|---|---|')
    rows = [(node, base, base + decode_extra) for node, base in
            (('detector_node', detector), ('anonymizer_node', anonymizer))]
    # On a machine the nodes keep busy, the rate follows the CPU time of the whole chain.
    rows.append(('camera + detector + anonymizer', detector + anonymizer,
                 rows[0][2] + rows[1][2] + ms['camera: JPEG encode', '']))
    for node, before, after in rows:
        print(f'| {node} | {before:.1f} | {after:.1f} | {before / after:.1%} |')


if __name__ == '__main__':
    main()
