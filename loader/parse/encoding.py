"""Which code page a non-UTF-8 export is in, and when a file is corrupt UTF-8 (spec §1.2).

Thai text decodes as cp874, Western European as cp1252. First the whole file's bytes
decide which allowed code pages can decode it at all (cp874 has no "ü", "™" or "ÿ";
cp1252 no 0x81). When more than one can, the words decide: read both ways, which reading
spells real words (:mod:`loader.parse.script`). cchardet is only a tie-breaker.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

import numpy as np

from loader.errors import FileRejected, RowError
from loader.parse.raw import RawSource, line_of_offset
from loader.parse.script import Evidence

THAI_CODECS = frozenset({"cp874", "tis-620", "iso8859_11"})
# cchardet's answers mapped to the family they hint at.
THAI_HINTS = frozenset({"TIS-620", "WINDOWS-874", "ISO-8859-11"})


CESU_SURROGATE = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")
"""A UTF-16 surrogate written as three bytes (CESU-8): UTF-8's shape, never valid UTF-8."""
MOSTLY_UTF8 = 2 / 3
"""Share of high bytes in well-formed UTF-8 sequences from which a file is corrupt UTF-8."""
EVIDENCE_WINDOW = 64 << 10
"""Bytes of each block, from its first high byte, whose words are weighed (a sample: the
whole file is still decoded strictly with the code page chosen)."""
EVIDENCE_BYTES = 1 << 20
"""At most this much text is weighed in all (the weighing stops early once clear)."""


@dataclass
class Scan:
    """Whole-file facts gathered block by block in the first pass."""

    size: int = 0
    high_bytes: int = 0
    byte_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    """How often each byte value occurs (the high ones: which code pages can decode the file)."""
    samples: list[bytes] = field(default_factory=list)
    """Windows of text around high bytes, whose words are weighed (:data:`EVIDENCE_WINDOW`)."""
    sampled: int = 0
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
    source: RawSource,
    scan: Scan,
    decoder: codecs.IncrementalDecoder,
    block: bytes,
    start: int,
) -> None:
    """UTF-8 validity, the byte values and a sample of the words of one block with high bytes.

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
    scan.byte_counts += np.bincount(arr[high], minlength=256)
    first = int(np.argmax(high))
    if scan.sampled < EVIDENCE_BYTES:
        # whole words: from the start of the line of the first high byte to a line's end
        begin = block.rfind(b"\n", 0, first) + 1
        window = block[begin : first + EVIDENCE_WINDOW]
        if first + EVIDENCE_WINDOW < len(block):
            window = window[: window.rfind(b"\n") + 1] or window
        scan.samples.append(window)
        scan.sampled += len(window)
    if len(scan.hint_sample) < 64 << 10:
        scan.hint_sample += block[max(first - 256, 0) : first + (64 << 10)]


def first_invalid(source: RawSource, data: bytes, start: int) -> RowError:
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
    """Pick a code page from the allow-list: first those that can decode every byte of the
    file, then the words' evidence (:mod:`loader.parse.script`), cchardet only on a tie.

    Returns the codec and how it was chosen: ``bytes`` (only one could decode the file),
    ``words`` (the words' evidence), ``detector`` or ``default`` (the first allowed).
    """
    able = [e for e in allowed if decodes(scan.byte_counts, e)] or list(allowed)
    if len(able) == 1:
        return able[0], "bytes" if len(allowed) > 1 else "default"
    thai = [e for e in able if e in THAI_CODECS]
    latin = [e for e in able if e not in THAI_CODECS]
    hint = _detector_hint(scan.hint_sample)
    hinted = codec_or_none(hint) if hint else None
    if thai and latin:
        evidence = Evidence()
        for sample in scan.samples:
            evidence.add(sample, thai[0], latin[0])
            if evidence.decided:
                break
        if evidence.thai > evidence.western:
            return thai[0], "words"
        if evidence.western > evidence.thai:
            return (hinted if hinted in latin else latin[0]), "words"
    if hint in THAI_HINTS and thai:
        return thai[0], "detector"
    if hinted in able:
        return hinted, "detector"
    return able[0], "default"


def decodes(byte_counts: np.ndarray, codec: str) -> bool:
    """Whether every high byte the file holds is defined in ``codec``."""
    present = bytes(int(b) for b in np.flatnonzero(byte_counts[0x80:]) + 0x80)
    try:
        present.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


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
