"""N-best decoding on the real tiny.en model: several scored readings, the prompt cascade."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicedesk.audio.files import load_audio
from voicedesk.stt.decoding import NBestDecoder
from voicedesk.stt.whisper import WhisperTranscriber, pcm_to_float

pytestmark = pytest.mark.model


def decoder(transcriber: WhisperTranscriber, prompts: int = 2) -> NBestDecoder:
    """A decoder on the session's model with the default vocabulary's two prompts."""
    assert transcriber.decoder is not None
    return NBestDecoder(transcriber.model, ["Voice commands.", "Status of job 12."][:prompts], 5, 5)


def test_hypotheses_are_distinct_and_best_first(
    fixtures_dir: Path, transcriber: WhisperTranscriber
) -> None:
    audio = pcm_to_float(load_audio(fixtures_dir / "dispatch_frontend.wav"))
    decoded = decoder(transcriber, prompts=1).decode(audio)
    texts = [h.text for h in decoded.hypotheses]
    scores = [h.score for h in decoded.hypotheses]
    assert len(texts) >= 3 and len(set(texts)) == len(texts)
    assert scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)
    assert "dark mode" in texts[0].lower() and decoded.no_speech_prob < 0.5


def test_the_cascade_stops_at_the_first_prompt_when_that_is_enough(
    fixtures_dir: Path, transcriber: WhisperTranscriber
) -> None:
    audio = pcm_to_float(load_audio(fixtures_dir / "status_job.wav"))
    assert decoder(transcriber).decode(audio, lambda found: True).prompts_used == 1
    both = decoder(transcriber).decode(audio, lambda found: False)
    assert both.prompts_used == 2 and len(both.hypotheses) >= 5


def test_the_transcriber_reads_the_chosen_hypothesis(
    fixtures_dir: Path, transcriber: WhisperTranscriber
) -> None:
    heard = transcriber.transcribe(load_audio(fixtures_dir / "cancel_job.wav"))
    assert heard.alternatives and heard.text in [h.text for h in heard.alternatives]
    assert "3" in heard.text or "three" in heard.text.lower()


def test_silence_is_still_nothing_on_the_nbest_path(transcriber: WhisperTranscriber) -> None:
    heard = transcriber.transcribe(bytes(32_000))
    assert heard.text == "" and heard.alternatives == ()


def test_a_shorter_encoder_window_still_hears_the_command(
    fixtures_dir: Path, transcriber: WhisperTranscriber
) -> None:
    audio = pcm_to_float(load_audio(fixtures_dir / "dispatch_frontend.wav"))
    short = NBestDecoder(transcriber.model, ["Voice commands."], 5, 3, window_s=8.0)
    assert short.window_frames == 800
    assert "dark mode" in short.decode(audio).hypotheses[0].text.lower()
    longer_than_window = NBestDecoder(transcriber.model, [None], 5, 1, window_s=1.0)
    assert "dark mode" in longer_than_window.decode(audio).hypotheses[0].text.lower()


def test_one_hypothesis_without_the_phrase_prompt_is_faster_whispers_own_path(
    fixtures_dir: Path, transcriber: WhisperTranscriber
) -> None:
    from voicedesk.config import SttSettings
    from voicedesk.stt.vocabulary import build_vocabulary

    plain = WhisperTranscriber(
        SttSettings(hypotheses=1, phrase_prompt=False), build_vocabulary({"frontend": ()}),
        model=transcriber.model, reader=transcriber.reader,
    )
    assert plain.decoder is None
    heard = plain.transcribe(load_audio(fixtures_dir / "dispatch_frontend.wav"))
    assert "dark mode" in heard.text.lower() and heard.alternatives == ()


def test_a_batch_reads_each_utterance_as_it_would_alone(
    fixtures_dir: Path, transcriber: WhisperTranscriber
) -> None:
    pcms = [load_audio(fixtures_dir / f"{name}.wav") for name in ("status_job", "cancel_job")]
    pcms.insert(1, bytes(32_000))  # a second of silence among them
    together = transcriber.transcribe_batch(pcms)
    alone = [transcriber.transcribe(pcm) for pcm in pcms]
    assert [t.text for t in together] == [t.text for t in alone]
    assert together[1].text == "" and "12" in together[0].text and together[2].alternatives
