"""onnxruntime sessions with automatic execution-provider choice."""
import math
import os

import onnxruntime as ort

from facekp_ros.core.checks import check_range

# Preferred order when 'auto': the fastest provider this onnxruntime build offers. The CPU
# comes last so that onnxruntime falls back to it when the GPU ones cannot start (the
# onnxruntime-gpu wheel lists CUDA even on a machine without a GPU).
AUTO_ORDER = ('TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider')
# TensorRT builds an engine per model and input shape, which takes seconds to minutes; keeping
# the engines on disk makes every start after the first one fast.
TENSORRT_CACHE = os.path.join(os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')),
                              'facekp_ros', 'tensorrt')


def select_providers(requested='auto') -> list:
    """Providers to run with: 'auto' (or '' / None), a comma-separated string, or a list.

    Raises ValueError naming the available providers when a requested one is not available.
    """
    available = ort.get_available_providers()
    if requested in ('auto', '', None):
        return [p for p in AUTO_ORDER if p in available] or ['CPUExecutionProvider']
    if isinstance(requested, str):
        requested = requested.split(',')
    if not all(isinstance(p, str) for p in requested):
        raise ValueError(f'providers={requested!r}: give provider names as strings, e.g. '
                         "'CUDAExecutionProvider,CPUExecutionProvider', or 'auto'")
    names = [p.strip() for p in requested if p.strip()]
    unknown = [p for p in names if p not in available]
    if unknown or not names:
        raise ValueError(f'execution provider(s) {", ".join(unknown) or "(none named)"} not '
                         f'available in this onnxruntime; available: {", ".join(available)}. '
                         'Use "auto", one of the available names, or install onnxruntime-gpu '
                         '(instead of onnxruntime) for CUDA/TensorRT')
    return names


def create_session(model, providers='auto', threads: int = 0) -> ort.InferenceSession:
    """An InferenceSession from a model path or ONNX bytes.

    threads: intra-op threads, 0 = onnxruntime's default (one per physical core).
    Raises FileNotFoundError / ValueError naming the model and what to do.
    """
    check_range('threads', threads, (0, math.inf), integer=True, hint='0: one per core')
    is_path = isinstance(model, (str, os.PathLike))
    if not is_path and not isinstance(model, bytes):
        raise ValueError(f'model must be a file path or ONNX bytes, got {type(model).__name__}')
    if is_path and not os.path.isfile(model):
        raise FileNotFoundError(f'ONNX model not found: {model} (check the model path '
                                'parameter, or leave it empty for the built-in model)')
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Errors only: graph-optimisation notices (unused initializers) are not the user's concern.
    options.log_severity_level = 3
    # Idle pool threads must not spin: the detector and keypoint sessions share few cores
    # (measured on 2 cores: spinning doubled the pipeline's time per frame).
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    chosen = _with_options(select_providers(providers))
    try:
        return ort.InferenceSession(model, sess_options=options, providers=chosen)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own unexported types
        name = os.fspath(model) if is_path else f'<{len(model)} bytes>'
        raise ValueError(f'cannot load ONNX model {name}: {error} (the file is corrupt or not '
                         'an ONNX model: fix the path, or reinstall the package that ships '
                         'it)') from error


def _with_options(providers: list) -> list:
    """The provider list, with TensorRT's engine cache turned on when TensorRT is in it."""
    if 'TensorrtExecutionProvider' not in providers:
        return providers
    os.makedirs(TENSORRT_CACHE, exist_ok=True)
    trt = ('TensorrtExecutionProvider',
           {'trt_engine_cache_enable': True, 'trt_engine_cache_path': TENSORRT_CACHE})
    return [trt if p == 'TensorrtExecutionProvider' else p for p in providers]
