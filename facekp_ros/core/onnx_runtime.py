"""onnxruntime sessions with automatic execution-provider choice."""
import os

import onnxruntime as ort

# Preferred order when 'auto': the fastest provider this onnxruntime build can use.
AUTO_ORDER = ('TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider')


def select_providers(requested='auto') -> list:
    """Providers to run with: 'auto', a comma-separated string, or a list of names.

    Raises ValueError naming the available providers when one is unknown here.
    """
    available = ort.get_available_providers()
    if requested in ('auto', '', None):
        return [p for p in AUTO_ORDER if p in available] or ['CPUExecutionProvider']
    names = [p.strip() for p in requested.split(',')] if isinstance(requested, str) else list(
        requested)
    unknown = [p for p in names if p not in available]
    if unknown:
        raise ValueError(f'execution provider(s) {", ".join(unknown)} not available in this '
                         f'onnxruntime; available: {", ".join(available)} (use "auto", or '
                         'install onnxruntime-gpu for CUDA/TensorRT)')
    return names


def create_session(model, providers='auto', threads: int = 0) -> ort.InferenceSession:
    """An InferenceSession from a model path or ONNX bytes.

    threads: intra-op threads, 0 = onnxruntime's default (one per core).
    Raises FileNotFoundError / ValueError naming the model and what to do.
    """
    if isinstance(model, (str, os.PathLike)) and not os.path.isfile(model):
        raise FileNotFoundError(f'ONNX model not found: {model} (check the path parameter, '
                                'or leave it empty for the model shipped with facekp_ros)')
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    chosen = select_providers(providers)
    try:
        return ort.InferenceSession(model, sess_options=options, providers=chosen)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own unexported types
        name = model if isinstance(model, (str, os.PathLike)) else f'<{len(model)} bytes>'
        raise ValueError(f'cannot load ONNX model {name}: {error} (the file is corrupt or '
                         'not an ONNX model; reinstall facekp_ros or fix the path)') from error
