"""Decode stage: compression, BOM and encoding, to a stream of UTF-8 blocks.

The rules are CONTRACT §1 and §1.2. The file is read twice. The first pass
(``inspect``) looks at every uncompressed byte: BOM, NUL bytes, whole-file
UTF-8 validity, and the byte structure that tells Thai from Western code
pages. A gzip input is decompressed once, to an anonymous temporary file, so
the second pass does not pay for it again. The second pass
(``Decoded.utf8_blocks``) yields UTF-8 bytes in blocks; for a UTF-8 file
those are the file's own bytes, otherwise a strict decode of each block, so
a byte the chosen code page cannot decode rejects the file there, with its
offset and line. Nothing is ever replaced or dropped.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from loader.errors import FileRejected, RowError
from loader.settings import ParseSettings

GZIP_MAGIC = b"\x1f\x8b"
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
THAI_CODECS = frozenset({"cp874", "tis-620", "iso8859_11"})
# cchardet's answers mapped to the family they hint at.
THAI_HINTS = frozenset({"TIS-620", "WINDOWS-874", "ISO-8859-11"})
READ_BLOCK = 16 << 20
SPOOL_IN_MEMORY = 32 << 20

Source = str | os.PathLike[str] | bytes


@dataclass(frozen=True, slots=True)
class DecodeInfo:
    """What the decode stage found out about one file."""

    encoding: str
    """Python codec name used (``utf-8``, ``utf-8-sig``, ``utf-16-le``, ``cp1252`` ...)."""
    how: str
    """How it was chosen: ``bom``, ``utf-8``, ``forced``, ``structure`` or ``detector``."""
    compressed: bool
    size: int
    """Uncompressed size in bytes, BOM included."""
    bom_length: int


def _open_raw(source: Source) -> BinaryIO:
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))
    return open(source, "rb")


def line_of_offset(source: Source, offset: int) -> int:
    """1-based line of a byte offset in the uncompressed bytes.

    Only errors need it, so newlines are not counted on the way: the prefix
    is read again (decompressed again for gzip) when an error is reported.
    """
    newlines = 0
    with _open_raw(source) as raw:
        for block in _uncompressed_blocks("", raw):
            if offset <= len(block):
                return newlines + block.count(b"\n", 0, offset) + 1
            newlines += block.count(b"\n")
            offset -= len(block)
    return newlines + 1


class Decoded:
    """A file whose encoding is known; iterate it as UTF-8 blocks."""

    def __init__(self, name: str, info: DecodeInfo, reopen: _Reopen) -> None:
        self.name = name
        self.info = info
        self._reopen = reopen

    @property
    def encoding(self) -> str:
        return self.info.encoding

    def close(self) -> None:
        self._reopen.close()

    def __enter__(self) -> Decoded:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def utf8_blocks(self, block_size: int = READ_BLOCK) -> Iterator[bytes]:
        """The file's text as UTF-8 bytes, BOM removed, in blocks of about ``block_size``.

        Blocks may end inside a character; the tokenizer only cuts at newlines.
        """
        enc = self.info.encoding
        with self._reopen.open() as raw:
            skipped = raw.read(self.info.bom_length)
            assert len(skipped) == self.info.bom_length
            if enc in ("utf-8", "utf-8-sig") and self.info.how != "forced":
                # validated whole in the first pass: pass the bytes through
                while block := raw.read(block_size):
                    yield block
                return
            yield from self._transcode(raw, enc, block_size)

    def _transcode(self, raw: BinaryIO, enc: str, block_size: int) -> Iterator[bytes]:
        decoder = codecs.getincrementaldecoder(enc)("strict")
        offset = self.info.bom_length
        newlines = 0
        while True:
            block = raw.read(block_size)
            final = not block
            pending = decoder.getstate()[0]
            try:
                text = decoder.decode(block, final=final)
            except UnicodeDecodeError as exc:
                bad = offset - len(pending) + exc.start
                prefix = (pending + block)[: exc.start].decode(enc, "replace")
                raise FileRejected(
                    self.name,
                    "decode",
                    [
                        RowError(
                            newlines + prefix.count("\n") + 1,
                            None,
                            f"byte 0x{(pending + block)[exc.start]:02X} cannot be decoded as {enc}",
                            bad,
                        )
                    ],
                    encoding=enc,
                ) from None
            nul = text.find("\x00")
            if nul >= 0:
                bad = offset - len(pending) + len(text[:nul].encode(enc))
                raise FileRejected(
                    self.name,
                    "decode",
                    [RowError(newlines + text.count("\n", 0, nul) + 1, None, "NUL character", bad)],
                    encoding=enc,
                )
            newlines += text.count("\n")
            offset += len(block)
            if text:
                yield text.encode("utf-8")
            if final:
                return


class _Reopen:
    """Reopens the uncompressed bytes: the original file, or a spooled decompressed copy."""

    def __init__(self, source: Source, spool: tempfile.SpooledTemporaryFile[bytes] | None) -> None:
        self._source = source
        self._spool = spool

    def open(self) -> BinaryIO:
        if self._spool is None:
            return _open_raw(self._source)
        self._spool.seek(0)
        return _NoClose(self._spool)  # type: ignore[return-value]

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


class _NoClose(io.RawIOBase):
    def __init__(self, inner: tempfile.SpooledTemporaryFile[bytes]) -> None:
        self._inner = inner

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(size)

    def readable(self) -> bool:
        return True

    def __exit__(self, *exc: object) -> None:
        pass


@dataclass
class _Scan:
    """Whole-file facts gathered block by block in the first pass."""

    size: int = 0
    high_bytes: int = 0
    high_in_runs: int = 0
    utf8_valid_chars: int = 0
    utf8_invalid: int = 0
    first_invalid: RowError | None = None
    hint_sample: bytes = b""


def _uncompressed_blocks(name: str, raw: BinaryIO) -> Iterator[bytes]:
    head = raw.read(2)
    raw.seek(0)
    if head != GZIP_MAGIC:
        while block := raw.read(READ_BLOCK):
            yield block
        return
    produced = 0
    try:
        with gzip.GzipFile(fileobj=raw) as gz:
            while block := gz.read(READ_BLOCK):
                produced += len(block)
                yield block
    except (OSError, EOFError, zlib.error) as exc:
        reason = "truncated gzip stream" if isinstance(exc, EOFError) else f"corrupt gzip: {exc}"
        raise FileRejected(
            name, "decode", [RowError(None, None, reason, produced)], encoding=None
        ) from None


def inspect(source: Source, name: str, settings: ParseSettings) -> Decoded:
    """First pass: decide the encoding of one file (CONTRACT §1, §1.2)."""
    raw = _open_raw(source)
    spool: tempfile.SpooledTemporaryFile[bytes] | None = None
    try:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if compressed:
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        scan, bom_enc = _first_pass(name, source, raw, spool, settings.encoding_for(name))
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    finally:
        raw.close()
    reopen = _Reopen(source, spool)
    forced = settings.encoding_for(name)
    bom_length = next((len(b) for b, e in BOMS if e == bom_enc), 0)
    if forced is not None:
        enc, how = forced, "forced"
        if bom_enc is not None and _same_family(forced, bom_enc):
            enc = bom_enc if forced.startswith("utf-16") else forced
        else:
            bom_length = 0
    elif bom_enc is not None:
        enc, how = bom_enc, "bom"
    elif scan.utf8_invalid == 0:
        enc, how = "utf-8", "utf-8"
    else:
        _reject_corrupt_utf8(name, scan)
        enc, how = _choose_code_page(scan, settings.allowed_encodings)
    return Decoded(name, DecodeInfo(enc, how, compressed, scan.size, bom_length), reopen)


def _same_family(forced: str, bom_enc: str) -> bool:
    return forced.startswith("utf-8") == bom_enc.startswith("utf-8") and forced.startswith(
        ("utf-8", "utf-16")
    )


def _first_pass(
    name: str,
    source: Source,
    raw: BinaryIO,
    spool: tempfile.SpooledTemporaryFile[bytes] | None,
    forced: str | None,
) -> tuple[_Scan, str | None]:
    detect = forced is None
    # NUL bytes are normal in UTF-16; the second pass checks its characters.
    check_nul_bytes = not (forced or "").startswith("utf-16")
    scan = _Scan()
    bom_enc: str | None = None
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    prev_high = False
    for index, block in enumerate(_uncompressed_blocks(name, raw)):
        if spool is not None:
            spool.write(block)
        if index == 0:
            bom_enc = next((e for b, e in BOMS if block.startswith(b)), None)
            if bom_enc is not None and bom_enc.startswith("utf-16"):
                detect = check_nul_bytes = False
        start = scan.size
        if check_nul_bytes:
            nul = block.find(b"\x00")
            if nul >= 0:
                raise FileRejected(
                    name,
                    "decode",
                    [
                        RowError(
                            line_of_offset(source, start + nul),
                            None,
                            "NUL byte: not a text export",
                            start + nul,
                        )
                    ],
                )
        if detect and not block.isascii():
            prev_high = _scan_non_ascii(source, scan, decoder, block, start, prev_high)
        else:
            prev_high = False
        scan.size += len(block)
    if detect:
        tail = decoder.decode(b"", final=True)
        bad = tail.count("\ufffd")
        if bad and scan.first_invalid is None:
            scan.first_invalid = RowError(
                line_of_offset(source, scan.size - 1),
                None,
                "incomplete UTF-8 sequence at end of file",
                scan.size - 1,
            )
        scan.utf8_invalid += bad
    return scan, bom_enc


def _scan_non_ascii(
    source: Source,
    scan: _Scan,
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


def _reject_corrupt_utf8(name: str, scan: _Scan) -> None:
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


def _choose_code_page(scan: _Scan, allowed: tuple[str, ...]) -> tuple[str, str]:
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


def source_name(source: Source, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, bytes | bytearray | memoryview):
        return "<bytes>"
    return str(Path(source))
