"""Which code page a non-UTF-8 export is in, and when a file is corrupt UTF-8 (CONTRACT §1.2).

Thai text decodes as cp874, Western European as cp1252: Thai words are runs
of consecutive high bytes, Latin accents mostly single high bytes between
ASCII letters. The byte structure decides; cchardet is only a hint.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import numpy as np

from loader.errors import FileRejected, RowError
from loader.parse.raw import Source, line_of_offset

THAI_CODECS = frozenset({"cp874", "tis-620", "iso8859_11"})
# cchardet's answers mapped to the family they hint at.
THAI_HINTS = frozenset({"TIS-620", "WINDOWS-874", "ISO-8859-11"})


CESU_SURROGATE = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")
"""A UTF-16 surrogate written as three bytes (CESU-8): UTF-8's shape, never valid UTF-8."""
MOSTLY_UTF8 = 2 / 3
"""Share of high bytes in well-formed UTF-8 sequences from which a file is corrupt UTF-8."""


@dataclass
class Scan:
    """Whole-file facts gathered block by block in the first pass."""

    size: int = 0
    high_bytes: int = 0
    high_in_runs: int = 0
    utf8_invalid: int = 0
    """Bytes that are not part of a well-formed UTF-8 sequence."""
    cesu_bytes: int = 0
    """Bytes of CESU-8 surrogates (UTF-8's shape, but invalid)."""
    first_invalid: RowError | None = None
    hint_sample: bytes = b""

    @property
    def utf8_share(self) -> float:
        """Share of the high bytes that stand in UTF-8-shaped sequences (well-formed, or
        CESU-8 surrogates)."""
        if not self.high_bytes:
            return 0.0
        return (self.high_bytes - self.utf8_invalid + self.cesu_bytes) / self.high_bytes


def count_invalid(text: str) -> int:
    """Undecodable bytes in text decoded with ``surrogateescape`` (one lone surrogate each)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return len(text.encode("utf-8", "surrogateescape")) - len(text.encode("utf-8", "ignore"))
    return 0


def scan_non_ascii(
    source: Source,
    scan: Scan,
    decoder: codecs.IncrementalDecoder,
    block: bytes,
    start: int,
    prev_high: bool,
) -> bool:
    """UTF-8 validity and code-page structure of one block with high bytes.

    ``decoder`` is an incremental UTF-8 decoder with ``surrogateescape``: an
    undecodable byte becomes one lone surrogate, which valid UTF-8 never
    yields, so a U+FFFD written in the file is a character like any other.
    """
    pending = decoder.getstate()[0]
    invalid = count_invalid(decoder.decode(block, final=False))
    arr = np.frombuffer(block, dtype=np.uint8)
    high = arr >= 0x80
    if invalid:
        scan.cesu_bytes += 3 * len(CESU_SURROGATE.findall(pending + block))
        if scan.first_invalid is None:
            scan.first_invalid = first_invalid(source, pending + block, start - len(pending))
    scan.utf8_invalid += invalid
    scan.high_bytes += int(np.count_nonzero(high))
    neighbour = np.zeros_like(high)
    neighbour[1:] |= high[:-1]
    neighbour[:-1] |= high[1:]
    neighbour[0] |= prev_high
    scan.high_in_runs += int(np.count_nonzero(high & neighbour))
    if len(scan.hint_sample) < 64 << 10:
        first = int(np.argmax(high))
        scan.hint_sample += block[max(first - 256, 0) : first + (64 << 10)]
    return bool(high[-1])


def first_invalid(source: Source, data: bytes, start: int) -> RowError:
    """The first byte of ``data`` (at offset ``start``) that is not valid UTF-8, located."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        reason = f"byte 0x{data[exc.start]:02X} is not valid UTF-8"
        if exc.reason == "unexpected end of data":
            reason = "incomplete UTF-8 sequence at end of file"
        return RowError(line_of_offset(source, offset), None, reason, offset)
    raise AssertionError("no invalid byte")  # pragma: no cover


def reject_invalid_utf8(name: str, scan: Scan, why: str) -> None:
    """Reject the file at its first byte that is not UTF-8, saying why UTF-8 applies."""
    assert scan.first_invalid is not None
    first = scan.first_invalid
    reason = f"{first.reason} ({why})"
    raise FileRejected(
        name, "decode", [RowError(first.line, None, reason, first.offset)], encoding="utf-8"
    )


def reject_corrupt_utf8(name: str, scan: Scan) -> None:
    """A file whose high bytes are mostly UTF-8-shaped is corrupt UTF-8, not a code page.

    Decoding it as cp1252 would turn every accented letter into mojibake
    (``Ã©``), as cp874 into Thai letters (``Sociรฉtรฉ``); rejecting it at
    the first bad byte is the honest answer. "Mostly" is two thirds of the
    high bytes: a single stray byte beside one two-byte character is two
    thirds; Thai text in cp874 read as UTF-8 is well-formed by chance for a
    third to a half of its high bytes, Western text in cp1252 for almost none.
    """
    if scan.utf8_share >= MOSTLY_UTF8:
        reject_invalid_utf8(name, scan, "the file is otherwise UTF-8")


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
