"""Decode stage: compression, BOM and encoding, to a stream of UTF-8 blocks.

The rules are spec §1 and §1.2. The file is read twice. The first pass
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
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from loader.errors import FileRejected, RowError
from loader.parse.encoding import (
    Scan,
    choose_code_page,
    count_invalid,
    first_invalid,
    reject_corrupt_utf8,
    reject_invalid_utf8,
    scan_non_ascii,
)
from loader.parse.raw import (
    GZIP_MAGIC,
    READ_BLOCK,
    RawSource,
    line_of_offset,
    not_a_csv,
    open_raw,
    source_name,
    uncompressed_blocks,
)
from loader.settings import ParseSettings

__all__ = ["DecodeInfo", "Decoded", "RawSource", "inspect", "line_of_offset", "source_name"]

BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
SPOOL_IN_MEMORY = 32 << 20


@dataclass(frozen=True, slots=True)
class DecodeInfo:
    """What the decode stage found out about one file."""

    encoding: str
    """Python codec name used (``utf-8``, ``utf-8-sig``, ``utf-16-le``, ``cp1252`` ...)."""
    how: str
    """How it was chosen: ``bom``, ``utf-8``, ``forced``, or for a code page ``bytes`` (the only
    allowed one that decodes every byte), ``words`` (the words' evidence), ``detector`` or
    ``default`` (:func:`~loader.parse.encoding.choose_code_page`)."""
    compressed: bool
    size: int
    """Uncompressed size in bytes, BOM included."""
    bom_length: int


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

    def __init__(
        self, source: RawSource, spool: tempfile.SpooledTemporaryFile[bytes] | None
    ) -> None:
        self._source = source
        self._spool = spool

    def open(self) -> BinaryIO:
        if self._spool is None:
            return open_raw(self._source)
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


def inspect(source: RawSource, name: str, settings: ParseSettings) -> Decoded:
    """First pass: decide the encoding of one file (spec §1, §1.2)."""
    raw = open_raw(source)
    spool: tempfile.SpooledTemporaryFile[bytes] | None = None
    try:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if compressed:
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        scan, bom_enc = _first_pass(name, source, raw, spool, settings)
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
        if enc == "utf-8-sig" and scan.utf8_invalid:
            reject_invalid_utf8(name, scan, "the file starts with a UTF-8 byte order mark")
    elif scan.utf8_invalid == 0:
        enc, how = "utf-8", "utf-8"
    else:
        reject_corrupt_utf8(name, scan)
        enc, how = choose_code_page(scan, settings.allowed_encodings)
    return Decoded(name, DecodeInfo(enc, how, compressed, scan.size, bom_length), reopen)


def _same_family(forced: str, bom_enc: str) -> bool:
    return forced.startswith("utf-8") == bom_enc.startswith("utf-8") and forced.startswith(
        ("utf-8", "utf-16")
    )


def _first_pass(
    name: str,
    source: RawSource,
    raw: BinaryIO,
    spool: tempfile.SpooledTemporaryFile[bytes] | None,
    settings: ParseSettings,
) -> tuple[Scan, str | None]:
    forced = settings.encoding_for(name)
    detect = forced is None
    # NUL bytes are normal in UTF-16; the second pass checks its characters.
    check_nul_bytes = not (forced or "").startswith("utf-16")
    scan = Scan()
    bom_enc: str | None = None
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    limit = settings.max_uncompressed_bytes
    for index, block in enumerate(uncompressed_blocks(name, raw, limit)):
        if spool is not None:
            spool.write(block)
        if index == 0:
            if what := not_a_csv(block):
                raise FileRejected(name, "decode", [RowError(None, None, what)])
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
            scan_non_ascii(source, scan, decoder, block, start)
        scan.size += len(block)
    if detect:
        pending = decoder.getstate()[0]
        bad = count_invalid(decoder.decode(b"", final=True))
        if bad and scan.first_invalid is None:
            scan.first_invalid = first_invalid(source, pending, scan.size - len(pending))
        scan.utf8_invalid += bad
    return scan, bom_enc
