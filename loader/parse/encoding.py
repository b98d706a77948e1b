"""Which code page a non-UTF-8 export is in, and when a file is corrupt UTF-8 (CONTRACT §1.2).

Thai text decodes as cp874, Western European as cp1252: Thai words are runs
of consecutive high bytes, Latin accents mostly single high bytes between
ASCII letters. The byte structure decides; cchardet is only a hint.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import numpy as np

from loader.errors import FileRejected, RowError
from loader.parse.raw import Source, line_of_offset

THAI_CODECS = frozenset({"cp874", "tis-620", "iso8859_11"})
# cchardet's answers mapped to the family they hint at.
THAI_HINTS = frozenset({"TIS-620", "WINDOWS-874", "ISO-8859-11"})


@dataclass
class Scan:
    """Whole-file facts gathered block by block in the first pass."""

    size: int = 0
    high_bytes: int = 0
    high_in_runs: int = 0
    utf8_valid_chars: int = 0
    utf8_invalid: int = 0
    first_invalid: RowError | None = None
    hint_sample: bytes = b""


def scan_non_ascii(
    source: Source,
    scan: Scan,
    decoder: codecs.IncrementalDecoder,
    block: bytes,
    start: int,
    prev_high: bool,
) -> bool:
    """UTF-8 validity and code-page structure of one block with high bytes."""
    pending = decoder.getstate()[0]
    text = decoder.decode(block, final=False)
    invalid = text.count("\ufffd")
    arr = np.frombuffer(block, dtype=np.uint8)
    high = arr >= 0x80
    high_count = int(np.count_nonzero(high))
    # ASCII bytes decode one to one, so what is left of the text is non-ASCII.
    non_ascii_chars = len(text) - (len(block) - high_count)
    scan.utf8_valid_chars += max(non_ascii_chars - invalid, 0)
    if invalid and scan.first_invalid is None:
        data = pending + block
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            offset = start - len(pending) + exc.start
            scan.first_invalid = RowError(
                line_of_offset(source, offset),
                None,
                f"byte 0x{data[exc.start]:02X} is not valid UTF-8",
                offset,
            )
    scan.utf8_invalid += invalid
    scan.high_bytes += high_count
    neighbour = np.zeros_like(high)
    neighbour[1:] |= high[:-1]
    neighbour[:-1] |= high[1:]
    neighbour[0] |= prev_high
    scan.high_in_runs += int(np.count_nonzero(high & neighbour))
    if len(scan.hint_sample) < 64 << 10:
        first = int(np.argmax(high))
        scan.hint_sample += block[max(first - 256, 0) : first + (64 << 10)]
    return bool(high[-1])


def reject_corrupt_utf8(name: str, scan: Scan) -> None:
    """A file that is UTF-8 but for a few bad bytes is corrupt, not a code page.

    Decoding it as cp1252 would turn every accented letter into mojibake
    (``Ã©``); rejecting it at the first bad byte is the honest answer.
    """
    valid, invalid = scan.utf8_valid_chars, scan.utf8_invalid
    if valid >= 4 and valid >= 9 * invalid:
        assert scan.first_invalid is not None
        first = scan.first_invalid
        raise FileRejected(
            name,
            "decode",
            [
                RowError(
                    first.line, None, first.reason + " (the file is otherwise UTF-8)", first.offset
                )
            ],
            encoding="utf-8",
        )


def choose_code_page(scan: Scan, allowed: tuple[str, ...]) -> tuple[str, str]:
    """Pick a code page from the allow-list: byte structure first, cchardet as a hint.

    Thai words are runs of consecutive high bytes; Latin accents are mostly
    single high bytes between ASCII letters. The detector's answer is used
    only when the structure does not speak clearly, and only to choose among
    allowed code pages.
    """
    thai = [e for e in allowed if e in THAI_CODECS]
    latin = [e for e in allowed if e not in THAI_CODECS]
    if not thai or not latin:
        return allowed[0], "structure"
    share_in_runs = scan.high_in_runs / scan.high_bytes if scan.high_bytes else 0.0
    if share_in_runs >= 0.7:
        return thai[0], "structure"
    if share_in_runs <= 0.3 and scan.high_bytes >= 4:
        return latin[0], "structure"
    hint = _detector_hint(scan.hint_sample)
    if hint in THAI_HINTS:
        return thai[0], "detector"
    if hint is not None:
        hinted = codec_or_none(hint)
        if hinted in latin:
            return hinted, "detector"
    return (thai[0] if share_in_runs >= 0.5 else latin[0]), "structure"


def codec_or_none(label: str) -> str | None:
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _detector_hint(sample: bytes) -> str | None:
    if not sample:
        return None
    try:
        import cchardet
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    guess = cchardet.detect(sample)
    encoding = guess.get("encoding") if guess else None
    return str(encoding).upper() if encoding else None
