"""Speaker labels in transcription jobs (`diarize`): every chunk is diarized by the real ASR
service with labels of its own, and the job links them by voice into labels for the whole
recording (gateway/jobs/speakers.py)."""

import json

import numpy as np
import pytest

from paneas.asr.v1 import asr_pb2
from paneas.gateway.jobs.speakers import link, relabel
from tests.jobs.conftest import base_jobs_env, finished
from tests.support.audio import encode_audio
from tests.support.speakers import RATE, Turn, consistent_fraction, conversation, turn_labels

# The worker cuts a chunk at the quietest 100 ms of its last 20 s: with 80 s chunks, at the
# first silent frame after 60 s.
CHUNK_SECONDS = 80
FIRST_CHUNK_SECONDS = 61.0
# The second half replays the conversation's turns in this order (indexes into its turns), so
# the speakers come first in another order than in the first chunk, and the service's own
# labels for the second chunk differ from the first's: beckett, reader, dealer, reader,
# beckett, kennedy, reader, dealer, kennedy, reader.
SECOND_ORDER = (3, 0, 2, 4, 8, 1, 6, 7, 5, 9)


@pytest.fixture(scope="module")
def jobs_env(jobs_redis, tmp_path_factory) -> dict[str, str]:
    return {**base_jobs_env(jobs_redis, tmp_path_factory), "JOBS_CHUNK_SECONDS": str(CHUNK_SECONDS)}


def two_chunk_conversation() -> tuple[np.ndarray, list[Turn]]:
    """Four real voices over two chunks: the conversation of tests/support/speakers.py
    (~56 s) and silence up to 61 s (the first chunk), then the same turns in SECOND_ORDER
    with 0.3-1.5 s pauses (the second chunk). The test audio holds about a minute of these
    voices, so the second chunk replays the first one's speech: this checks that the job's
    labels are the recording's, not the chunks'; how well voices link across chunks of
    different speech is measured by bench/diarization.py ("chunks linked")."""
    first = conversation()
    rng = np.random.default_rng(17)
    pieces = [first.samples, np.zeros(int(FIRST_CHUNK_SECONDS * RATE) - first.samples.size)]
    position = int(FIRST_CHUNK_SECONDS * RATE) + RATE // 2
    pieces.append(np.zeros(RATE // 2))
    truth = list(first.turns)
    for index in SECOND_ORDER:
        turn = first.turns[index]
        clip = first.samples[round(turn.start * RATE) : round(turn.end * RATE)]
        truth.append(Turn(position / RATE, (position + clip.size) / RATE, turn.speaker))
        gap = np.zeros(int(rng.uniform(0.3, 1.5) * RATE))
        pieces += [clip, gap]
        position += clip.size + gap.size
    return np.concatenate(pieces).astype(np.int16), truth


def test_a_diarized_job_labels_speakers_alike_across_its_chunks(client):
    audio, truth = two_chunk_conversation()
    config = {"language": "en", "diarize": True, "word_timestamps": True}
    answer = client.post(
        "/api/v1/jobs",
        files={"file": ("call.flac", encode_audio(audio, "flac"))},
        data={"config": json.dumps(config)},
    )
    assert answer.status_code == 202, answer.text
    job = finished(client, answer.json()["id"], timeout=600)
    assert job["status"] == "succeeded", job.get("error")
    segments = job["result"]["segments"]
    assert segments and all("speaker" in segment for segment in segments)
    # The first chunk ends in the silence before 61 s: the second is diarized on its own.
    assert any(s["start"] < FIRST_CHUNK_SECONDS for s in segments)
    assert any(s["start"] > FIRST_CHUNK_SECONDS for s in segments)
    spans = [(s["start"], s["end"], s["speaker"]) for s in segments]
    labels = sorted({label for _, _, label in spans if label})
    assert labels == ["A", "B", "C", "D"], spans
    heard = list(zip(truth, turn_labels(truth, spans), strict=True))
    assert consistent_fraction(truth, spans) >= 0.9, heard
    # Each voice keeps its label on both sides of the chunk boundary.
    for speaker in {turn.speaker for turn in truth}:
        before = {h for t, h in heard if t.speaker == speaker and t.end < FIRST_CHUNK_SECONDS}
        after = {h for t, h in heard if t.speaker == speaker and t.start > FIRST_CHUNK_SECONDS}
        assert before == after and len(before) == 1, (speaker, before, after)
    # In order of first appearance: the reader opens the recording.
    assert heard[0][1] == "A"
    words = [word for segment in segments for word in segment["words"]]
    assert words and {word["speaker"] for word in words} <= set(labels) | {""}
    srt = client.get(f"/api/v1/jobs/{job['id']}/result?format=srt").text
    assert "\nA: " in srt and "\nD: " in srt, srt[:400]
    vtt = client.get(f"/api/v1/jobs/{job['id']}/result?format=vtt").text
    assert "<v B>" in vtt


def _voice(direction: int, noise: float = 0.0, seed: int = 0) -> list[float]:
    vector = np.zeros(8)
    vector[direction] = 1.0
    vector += noise * np.random.default_rng(seed).standard_normal(8)
    return list(vector / np.linalg.norm(vector))


def test_linking_keeps_a_chunks_speakers_apart_and_labels_by_first_appearance():
    """Pure bookkeeping, no service: chunk 2's "A" is chunk 1's "B"; a chunk's two speakers
    stay two even when both resemble one earlier voice; an unheard voice is a new speaker."""
    first = asr_pb2.Diarization()
    first.speakers.add(label="A", speech_seconds=10, embedding=_voice(0))
    first.speakers.add(label="B", speech_seconds=8, embedding=_voice(1))
    second = asr_pb2.Diarization()
    second.speakers.add(label="A", speech_seconds=9, embedding=_voice(1, 0.1, 1))
    second.speakers.add(label="B", speech_seconds=7, embedding=_voice(0, 0.1, 2))
    second.speakers.add(label="C", speech_seconds=5, embedding=_voice(2))
    third = asr_pb2.Diarization()
    third.speakers.add(label="A", speech_seconds=6, embedding=_voice(0, 0.05, 3))
    third.speakers.add(label="B", speech_seconds=6, embedding=_voice(0, 0.05, 4))
    linked = link([first, second, third])
    assert linked.chunk_labels[0] == {"A": 0, "B": 1}
    assert linked.chunk_labels[1] == {"A": 1, "B": 0, "C": 2}
    assert linked.chunk_labels[2]["A"] != linked.chunk_labels[2]["B"]

    def segment(start: float, speaker: str) -> asr_pb2.Segment:
        word = asr_pb2.Word(word="w", start_seconds=start, end_seconds=start + 1, speaker=speaker)
        return asr_pb2.Segment(
            start_seconds=start, end_seconds=start + 1, speaker=speaker, words=[word]
        )

    # The recording opens with chunk 1's "B": it is "A" for the whole recording.
    parts = [
        (0, [segment(0, "B"), segment(2, "A")], first),
        (0, [segment(10, "A"), segment(12, "C"), segment(14, "B")], second),
    ]
    summary = relabel(parts)
    assert [s.speaker for s in parts[0][1]] == ["A", "B"]
    assert [s.speaker for s in parts[1][1]] == ["A", "C", "B"]
    assert [s.words[0].speaker for s in parts[1][1]] == ["A", "C", "B"]
    assert [s.label for s in summary.speakers] == ["A", "B", "C"]
    assert summary.speakers[0].speech_seconds == pytest.approx(17)

    # multichannel: each channel's speakers are labelled on their own, even the same voice.
    left = [segment(1, "A")]
    right = [segment(0, "B"), segment(3, "A")]
    summary = relabel([(0, left, first), (1, right, first)])
    assert [s.speaker for s in left] == ["A"]
    assert [s.speaker for s in right] == ["A", "B"]
    assert [(s.channel, s.label) for s in summary.speakers] == [
        (0, "A"),
        (0, "B"),
        (1, "A"),
        (1, "B"),
    ]
