"""Real recorded English speech from many speakers, with the text each line was read from:
the voiced lines of *Flight of the Amazon Queen* (Debian package flight-of-the-amazon-queen,
freeware, redistribution allowed; John Passfield and Steven Stamatiadis), for
bench/asr_quality.py.

    python scripts/assets/amazon_queen.py QUEEN_1C OUT_DIR

The game's data file `queen.1c` holds every voiced line as an MP3 (11,025 Hz mono) and the
script the actors read from: Joe's remarks in QUEEN2.JAS and the dialogues in the *.DOG files.
A line's voice file is named from where its text stands (dialogue key, line id, segment
number), as the game's engine looks it up (the layout below was read from ScummVM's Queen
engine, which plays this file). Writes a chosen subset as 16 kHz mono PCM16 WAV files, and
`manifest.json`: [{"file", "text", "speaker", "seconds"}] (the converted clips are marked as
modified, as the game's licence asks, by this note and the manifest's `source`).

The subset: lines of 4 or more words, letters and ordinary punctuation only (no numbers,
whose spelling Whisper chooses freely), from every character but the four whose voices are
processed or non-human (the ape, the oracle, Death, the zombies); at most 90 s per character
and 300 s of Joe, the hero (he has a third of all lines), drawn in a fixed random order, until
15 minutes are reached.
"""

from __future__ import annotations

import io
import json
import random
import re
import struct
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16000
TARGET_SECONDS = 15 * 60
MAX_SECONDS = {"JOE": 300.0}
MAX_SECONDS_OTHERS = 90.0
LEFT_OUT = {"APE", "ORACLE", "DEATH", "ZOMBIE"}
SEED = 20261203
# Joe's 40 stock replies follow his object descriptions in QUEEN2.JAS; this is the first.
FIRST_STOCK_REPLY = "It doesn't seem to open"
# In a line, `*` and two letters are a command; each starts the next voice segment. These
# three speak nothing (gestures and waits); XY carries 11 more characters (a position).
SILENT_COMMANDS = {"GD", "GM", "WT"}


@dataclass(frozen=True)
class Line:
    voice: str  # the resource name of its MP3
    text: str
    speaker: str


class ResourceFile:
    """queen.1c: "QTBL", a version, then a table of (name[12], bundle, offset, size)."""

    def __init__(self, data: bytes) -> None:
        if data[:4] != b"QTBL":
            raise ValueError("not a Flight of the Amazon Queen resource file")
        self._data = data
        (count,) = struct.unpack(">H", data[13:15])
        self.entries: dict[str, tuple[int, int]] = {}
        for index in range(count):
            start = 15 + index * 21
            name = data[start : start + 12].split(b"\0")[0].decode("ascii")
            offset, size = struct.unpack(">II", data[start + 13 : start + 21])
            self.entries[name] = (offset, size)

    def read(self, name: str) -> bytes:
        offset, size = self.entries[name]
        return self._data[offset : offset + size]


def segments(sentence: str, prefix: str) -> list[tuple[str, str]]:
    """(voice name, text) of each spoken segment of a scripted line."""
    spoken, index, start, position = [], 0, 0, 0
    while position < len(sentence):
        if sentence[position] != "*":
            position += 1
            continue
        text = sentence[start:position]
        command = sentence[position + 1 : position + 3]
        position += 3 + (11 if command == "XY" else 0)
        if command not in SILENT_COMMANDS:
            spoken.append((index, text))
        index += 1
        start = position
    if start < len(sentence):
        spoken.append((index, sentence[start:]))
    return [
        ((prefix + f"{number + 1:1x}").replace(" ", "0").upper() + ".SB", text.strip())
        for number, text in spoken
        if text.strip()
    ]


def _string(data: bytes, offset: int, align: int) -> tuple[str, int]:
    """A length-prefixed string; the next field starts at the next multiple of `align`."""
    length = data[offset]
    offset += 1
    text = data[offset : offset + length].decode("latin-1")
    if length:
        offset = (offset + length + align - 1) & ~(align - 1)
    return text, offset


def joe_remarks(resources: ResourceFile) -> list[Line]:
    lines = resources.read("QUEEN2.JAS").decode("latin-1").split("\r\n")
    replies = next(i for i, line in enumerate(lines) if line.startswith(FIRST_STOCK_REPLY))
    found = []
    for number, line in enumerate(lines[:replies], 1):
        if "*" in line:
            found += [Line(v, t, "JOE") for v, t in segments(line, f"JOE{number + 40:04d}")]
    for number, line in enumerate(lines[replies : replies + 40], 1):
        found += [Line(v, t, "JOE") for v, t in segments(line, f"JOE{number:04d}")]
    return found


def dialogue(resources: ResourceFile, name: str) -> list[Line]:
    data = resources.read(name)[20:]
    levels, _, key, joe_count, person_count = struct.unpack(">hhhhh", data[:10])
    person_table, _, repeat_table = struct.unpack(">HHH", data[22:28])
    person = re.sub(r"\d+$", "", name.removesuffix(".DOG"))

    def table(offset: int, count: int) -> list[tuple[int, str]]:
        rows = []
        for _ in range(count):
            (line_id,) = struct.unpack(">h", data[offset + 2 : offset + 4])
            text, offset = _string(data, offset + 4, 4)
            rows.append((line_id, text))
        return rows

    found = []
    for line_id, text in table(person_table, person_count):
        found += [Line(v, t, person) for v, t in segments(text, f"{key:2d}{line_id:4x}P")]
    for line_id, text in table(32 + abs(levels) * 96, joe_count):
        prefix = f"{key:2d}SSSSJ" if line_id == 0 else f"{key:2d}{line_id:4x}J"
        found += [Line(v, t, "JOE") for v, t in segments(text, prefix)]
    # What each says when the dialogue is opened again.
    again, offset = _string(data, repeat_table, 2)
    joe_again, _ = _string(data, offset, 2)
    found += [Line(v, t, person) for v, t in segments(again, f"{key:2d}XXXXP")]
    found += [Line(v, t, "JOE") for v, t in segments(joe_again, f"{key:2d}XXXXJ")]
    return found


def voiced_lines(resources: ResourceFile) -> list[Line]:
    lines = joe_remarks(resources)
    for name in sorted(n for n in resources.entries if n.endswith(".DOG")):
        lines += dialogue(resources, name)
    unique: dict[str, Line] = {}
    for line in lines:
        if line.voice in resources.entries:
            unique.setdefault(line.voice, line)
    return list(unique.values())


def pcm16_16k(mp3: bytes) -> np.ndarray:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    pieces = []
    with av.open(io.BytesIO(mp3), format="mp3") as container:
        for frame in container.decode(audio=0):
            pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(pieces) if pieces else np.zeros(0, np.int16)


def chosen(lines: list[Line]) -> list[Line]:
    plain = [
        line
        for line in lines
        if len(line.text.split()) >= 4
        and re.fullmatch(r"[A-Za-z ,.'?!-]+", line.text)
        and line.speaker not in LEFT_OUT
    ]
    random.Random(SEED).shuffle(plain)
    return plain


def main() -> None:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    resources = ResourceFile(source.read_bytes())
    out.mkdir(parents=True, exist_ok=True)
    manifest, per_speaker, total = [], {}, 0.0
    for line in chosen(voiced_lines(resources)):
        if total >= TARGET_SECONDS:
            break
        budget = MAX_SECONDS.get(line.speaker, MAX_SECONDS_OTHERS)
        if per_speaker.get(line.speaker, 0.0) >= budget:
            continue
        samples = pcm16_16k(resources.read(line.voice))
        seconds = samples.size / SAMPLE_RATE
        name = line.voice.removesuffix(".SB").lower() + ".wav"
        with wave.open(str(out / name), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(samples.tobytes())
        manifest.append(
            {"file": name, "text": line.text, "speaker": line.speaker, "seconds": seconds}
        )
        per_speaker[line.speaker] = per_speaker.get(line.speaker, 0.0) + seconds
        total += seconds
    (out / "manifest.json").write_text(
        json.dumps(
            {
                "source": "Debian flight-of-the-amazon-queen 1.0.0-9, queen.1c; MP3 lines "
                "converted to 16 kHz PCM16 (modified from the original)",
                "clips": manifest,
            },
            indent=1,
        )
    )
    print(
        f"{len(manifest)} lines, {total / 60:.1f} min, {len(per_speaker)} speakers",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
