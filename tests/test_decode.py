"""spec §1 (compression, encoding) and §1.2 (detector traps, strict cp1252, offsets)."""

import codecs
import gzip
import re

import cchardet
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.errors import FileRejected
from loader.parse.decode import inspect
from loader.settings import ParseSettings, parse_prefix_map
from tests.conftest import HEADER, csv_bytes, parse, reject, rows_of

WESTERN = ["Crédit Agricole", "Société Générale", "Großmann", "Müller Österreich", "naïve café"]
THAI = ["กสิกรไทย", "ไทยพาณิชย์", "กรุงเทพ", "บัวหลวง"]


def export_with(names: list[str], encoding: str, filler_rows: int = 0) -> bytes:
    rows = [f"2025-12-09,PLAIN{i},T,C,{i}" for i in range(filler_rows)]
    rows += [f"2025-12-09,{name},T,C,1.5" for name in names]
    return csv_bytes(*rows, encoding=encoding)


def stocks(result):
    return [r[1] for r in rows_of(result)]


def test_gzip_is_detected_by_magic_bytes_not_by_name():
    data = csv_bytes("2025-12-09,S,T,C,1")
    result = parse(gzip.compress(data), name="export.csv")
    assert result.compressed and result.rows_read == 1
    plain = parse(data, name="export.csv.gz")
    assert not plain.compressed and plain.rows_read == 1


def test_truncated_gzip_is_rejected():
    packed = gzip.compress(csv_bytes(*[f"2025-12-09,S{i},T,C,{i}" for i in range(5000)]))
    error = reject(packed[: len(packed) // 2])
    assert error.kind == "decode"
    assert "gzip" in error.errors[0].reason


def test_corrupt_gzip_is_rejected():
    packed = bytearray(gzip.compress(csv_bytes("2025-12-09,S,T,C,1") * 50))
    packed[20:40] = b"\xff" * 20
    error = reject(bytes(packed))
    assert error.kind == "decode" and "gzip" in error.errors[0].reason


@pytest.mark.parametrize(
    ("bom", "codec", "expected"),
    [
        (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
    ],
)
def test_a_bom_decides_the_encoding(bom, codec, expected):
    text = "\n".join([HEADER, "2025-12-09,กสิกร,Crédit,C,1"]) + "\n"
    result = parse(bom + text.encode(codec))
    assert result.encoding == expected
    assert result.encoding_detected_by == "bom"
    assert rows_of(result)[0][1:3] == ("กสิกร", "Crédit")
    assert result.columns[0] == "d_trade"  # the BOM is not part of the first name


def test_valid_utf8_is_utf8():
    result = parse(export_with(THAI + WESTERN, "utf-8"))
    assert result.encoding == "utf-8"
    assert stocks(result) == THAI + WESTERN


def test_cp1252_that_cchardet_calls_central_european_is_read_as_cp1252():
    data = export_with(WESTERN, "cp1252")
    # the trap is real: the detector alone would pick a wrong code page
    assert cchardet.detect(data)["encoding"].upper() not in ("WINDOWS-1252", "CP1252")
    result = parse(data)
    assert result.encoding == "cp1252"
    assert stocks(result) == WESTERN


def test_cp874_thai_is_read_as_cp874():
    result = parse(export_with(THAI, "cp874"))
    assert result.encoding == "cp874"
    assert stocks(result) == THAI


@pytest.mark.parametrize(("names", "codec"), [(WESTERN, "cp1252"), (THAI, "cp874")])
def test_non_ascii_first_appearing_after_the_first_megabyte(names, codec):
    data = export_with(names, codec, filler_rows=60_000)  # ~1.6 MB of ASCII first
    assert re.search(rb"[\x80-\xff]", data).start() > 1 << 20
    result = parse(data)
    assert result.encoding == codec
    assert stocks(result)[-len(names) :] == names


def test_utf8_whose_first_non_ascii_is_after_a_megabyte_is_still_utf8():
    result = parse(export_with(THAI, "utf-8", filler_rows=60_000))
    assert result.encoding == "utf-8"
    assert stocks(result)[-len(THAI) :] == THAI


@pytest.mark.parametrize("byte", [0x81, 0x8D, 0x8F, 0x90, 0x9D])
def test_bytes_undefined_in_cp1252_reject_the_file_with_offset_and_line(byte):
    data = export_with(["Crédit", "Société"], "cp1252")
    bad_at = data.index(b"Soci")
    data = data[:bad_at] + bytes([byte]) + data[bad_at:]
    error = reject(data)
    assert error.kind == "decode"
    [first] = error.errors
    assert first.offset == bad_at
    assert first.line == 3
    assert f"0x{byte:02X}" in first.reason


def test_undecodable_cp874_bytes_reject_the_file():
    data = export_with(THAI, "cp874")
    bad_at = data.index("ไทยพาณิชย์".encode("cp874"))
    data = data[:bad_at] + b"\xfc" + data[bad_at:]  # 0xFC is undefined in cp874
    error = reject(data, encoding="cp874")
    assert error.errors[0].offset == bad_at and error.errors[0].line == 3


def test_offsets_count_the_bom():
    data = codecs.BOM_UTF16_LE + "\n".join([HEADER, "2025-12-09,S,T,C,1"]).encode("utf-16-le")
    data += b"\x00\xd8"  # a lone high surrogate at the very end
    error = reject(data)
    assert error.kind == "decode"
    assert error.errors[0].offset == len(data) - 2
    assert error.errors[0].line == 2


def test_an_explicit_encoding_overrides_detection():
    data = export_with(WESTERN, "cp1252")
    result = parse(data, encoding="latin-1")
    assert result.encoding == "iso8859-1" and result.encoding_detected_by == "forced"
    assert stocks(result) == [n.encode("cp1252").decode("latin-1") for n in WESTERN]


def test_an_explicit_utf8_encoding_still_rejects_invalid_bytes():
    error = reject(export_with(WESTERN, "cp1252"), encoding="utf-8")
    assert error.kind == "decode" and error.errors[0].offset is not None


def test_encoding_can_be_configured_per_s3_prefix():
    data = export_with(["Crédit", "Société"], "cp1252")  # detection alone says cp1252
    prefixes = parse_prefix_map("raw/sql_server/fund_data/th/=cp874")
    th = parse(data, name="raw/sql_server/fund_data/th/x.csv", encoding_by_prefix=prefixes)
    assert th.encoding == "cp874" and th.encoding_detected_by == "forced"
    assert stocks(th) == [
        "Crédit".encode("cp1252").decode("cp874"),
        "Société".encode("cp1252").decode("cp874"),
    ]
    other = parse(data, name="raw/sql_server/fund_data/eu/x.csv", encoding_by_prefix=prefixes)
    assert other.encoding == "cp1252" and other.encoding_detected_by != "forced"


def test_a_nul_byte_rejects_the_file_with_offset_and_line():
    data = csv_bytes("2025-12-09,S,T,C,1", "2025-12-09,S\x00X,T,C,2")
    error = reject(data)
    assert error.errors[0].offset == data.index(b"\x00")
    assert error.errors[0].line == 3
    assert "NUL" in error.errors[0].reason


def test_a_nul_character_in_utf16_rejects_the_file():
    text = "\n".join([HEADER, "2025-12-09,S\x00,T,C,1"]) + "\n"
    error = reject(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert "NUL" in error.errors[0].reason and error.errors[0].line == 2


def test_mostly_utf8_with_a_bad_byte_is_rejected_not_read_as_a_code_page():
    data = export_with(["Crédit", "Société", "Müller", "Café"] * 5 + ["Zürich"], "utf-8")
    bad_at = data.index(b"Z")
    data = data[:bad_at] + b"\xe9" + data[bad_at:]
    error = reject(data)
    assert error.errors[0].offset == bad_at
    assert "UTF-8" in error.errors[0].reason


def test_characters_are_never_replaced(tmp_path):
    defined = [b for b in range(0x80, 0x100) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D, 0xA0)]
    names = [f"a{bytes([b]).decode('cp1252')}z" for b in defined]  # each high byte between letters
    result = parse(export_with(names, "cp1252"))
    assert result.encoding == "cp1252"
    assert stocks(result) == names
    assert all("\ufffd" not in s for s in stocks(result))


def test_inspect_reads_paths_and_reports_size(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(csv_bytes("2025-12-09,S,T,C,1"))
    with inspect(path, str(path), ParseSettings()) as decoded:
        assert decoded.info.size == path.stat().st_size
        assert b"".join(decoded.utf8_blocks()) == path.read_bytes()


# -- every byte validated, whatever chose the encoding (spec §1.2) -------------------


def test_a_utf8_bom_does_not_skip_validation():
    """A file that starts with a UTF-8 BOM is validated too: the bad byte rejects it here,
    with its offset (counting the BOM) and line, instead of reaching the server."""
    data = codecs.BOM_UTF8 + csv_bytes("2025-12-09,Société,T,C,1", "2025-12-09,Bad\x00,T,C,2")
    data = data.replace(b"Bad\x00", b"Bad\xff")
    error = reject(data)
    assert error.kind == "decode" and error.encoding == "utf-8"
    assert error.errors[0].offset == data.index(b"\xff") and error.errors[0].line == 3
    assert "byte order mark" in error.errors[0].reason


def test_inside_gzip_too():
    plain = codecs.BOM_UTF8 + csv_bytes("2025-12-09,S,T,C,1", "2025-12-09,Sx,T,D,2")
    plain = plain.replace(b"Sx", b"S\xc3")  # a lone lead byte
    error = reject(gzip.compress(plain))
    assert error.errors[0].offset == plain.index(b"\xc3")  # in the uncompressed bytes
    assert error.errors[0].line == 3


def test_french_names_in_utf8_with_one_cp1252_quote_are_rejected_not_read_as_cp874():
    data = csv_bytes("2025-12-09,Société Générale,T,C,1", "2025-12-09,L'Oréal,T,C,2")
    data = data.replace(b"L'", b"L\x92")  # one cp1252 right quote in a UTF-8 file
    error = reject(data)
    assert error.errors[0].offset == data.index(b"\x92")
    assert "not valid UTF-8" in error.errors[0].reason and error.encoding == "utf-8"


def test_cesu8_surrogates_are_rejected():
    cesu = "😀".encode("utf-16-be")  # a surrogate pair, each half written as UTF-8
    halves = [int.from_bytes(cesu[i : i + 2], "big") for i in (0, 2)]
    encoded = b"".join(chr(h).encode("utf-8", "surrogatepass") for h in halves)
    data = csv_bytes("2025-12-09,S,T,C,1") + b"2025-12-09,S" + encoded * 3 + b",T,D,2\n"
    error = reject(data)
    assert error.errors[0].offset == data.index(b"\xed") and error.encoding == "utf-8"


def test_a_replacement_character_written_in_the_file_is_text():
    """U+FFFD is a character like any other: the file is valid UTF-8 and loads as such."""
    result = parse(csv_bytes("2025-12-09,S,T,C,\ufffd", "2025-12-09,S,T,D,\ufffd\ufffdx"))
    assert result.encoding == "utf-8"
    assert [r[5] for r in rows_of(result)] == ["\ufffd", "\ufffd\ufffdx"]


def test_thai_and_western_code_pages_are_still_told_apart(tmp_path):
    from loader.devtools.samples import ExportSpec, write_export

    checked = 0
    for seed in range(1, 12):
        for rows in (60, 300):
            for encoding in ("cp874", "cp1252"):
                spec = ExportSpec(rows=rows, encoding=encoding, seed=seed)
                data = write_export(tmp_path / "x.csv", spec).read_bytes()
                if data.isascii():
                    continue  # no accented or Thai fund name drawn: plain ASCII is UTF-8
                assert parse(data).encoding == encoding, (seed, rows)
                checked += 1
    assert checked >= 20


WESTERN_LETTERS = "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßÀÉÈÖÜŒœŠšŽž€‘’“”–—"
THAI_LETTERS = "".join(chr(c) for c in range(0x0E01, 0x0E3B)) + "".join(
    chr(c) for c in range(0x0E40, 0x0E4F)
)
# bytes that are not valid where they are put (between two characters): a continuation
# byte with no lead, a lead byte with no continuation, bytes UTF-8 never uses
STRAY = [0x80, 0x92, 0xA9, 0xBF, 0xC0, 0xC1, 0xC3, 0xE0, 0xED, 0xF0, 0xF5, 0xFE, 0xFF]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([WESTERN_LETTERS, THAI_LETTERS]).flatmap(
        lambda letters: st.tuples(
            st.text(alphabet=st.sampled_from(letters), min_size=1, max_size=30),
            st.text(alphabet="abcdefghij XYZ-", max_size=20),
        )
    ),
    st.sampled_from(STRAY),
    st.floats(0, 1),
)
def test_one_invalid_byte_anywhere_in_utf8_text_always_rejects_the_file(texts, stray, where):
    letters, ascii_part = texts
    words = ascii_part + letters
    cut = round(where * len(words))  # a character boundary anywhere in the value
    value = words[:cut].encode("utf-8") + bytes([stray]) + words[cut:].encode("utf-8")
    data = csv_bytes("2025-12-09,S,T,C,1") + b"2025-12-09,S,T,D," + value + b"\n"
    with pytest.raises(FileRejected) as caught:
        parse(data)
    error = caught.value
    assert error.kind == "decode" and error.encoding == "utf-8"
    assert error.errors[0].offset == data.index(value) + len(words[:cut].encode("utf-8"))
