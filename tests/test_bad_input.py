"""The bad-input corpus: each file gets its clear error or its empty success, in bounded memory."""

import gzip
import json
import os
import random
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import HEADER, csv_bytes, parse, reject


def corpus(folder):
    rnd = random.Random(7)
    files = {
        "binary-garbage.csv": bytes(rnd.randrange(256) for _ in range(200_000)),
        "truncated.csv.gz": gzip.compress(
            csv_bytes(*[f"2025-12-09,S{i},T,C,{i}" for i in range(20_000)])
        )[:5000],
        "nul-bytes.csv": csv_bytes("2025-12-09,S,T,C,1", "2025-12-09,S\x00,T,C,1"),
        "unbalanced-quotes.csv": csv_bytes(
            '2025-12-09,S,T,C,"open', *["2025-12-09,S,T,C,1"] * 50_000
        ),
        "ten-megabyte-field.csv": csv_bytes("2025-12-09,S,T,C," + "x" * (10 << 20)),
        "hundred-thousand-columns.csv": csv_bytes(
            ",".join(["2025-12-09", "S", "T", "C", "1"] + ["z"] * 99_995),
            header=",".join(HEADER.split(",") + [f"extra{i}" for i in range(99_995)]),
        ),
        "header-only.csv": HEADER.encode(),
        "empty.csv": b"",
        # ~96 MB of blank lines each, under 100 KB compressed: before the header, between
        # rows, and whitespace-only with CR LF (the memory must not grow with their number)
        "blank-lines-before-header.csv.gz": gzip.compress(
            b"\n" * 96_000_000 + csv_bytes("2025-12-09,S,T,C,1"), 9
        ),
        "blank-lines-between-rows.csv.gz": gzip.compress(
            csv_bytes("2025-12-09,S,T,C,1") + b"\n" * 96_000_000 + b"2025-12-09,S,T,D,2\n", 9
        ),
        "whitespace-lines.csv.gz": gzip.compress(
            csv_bytes("2025-12-09,S,T,C,1") + b" \t\r\n" * 24_000_000 + b"2025-12-09,S,T,D,2\n", 9
        ),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return sorted(files)


EXPECTED = {
    "binary-garbage.csv": ("rejected", "decode"),
    "truncated.csv.gz": ("rejected", "decode"),
    "nul-bytes.csv": ("rejected", "decode"),
    "unbalanced-quotes.csv": ("rejected", "rows"),
    "ten-megabyte-field.csv": ("rejected", "rows"),
    "hundred-thousand-columns.csv": ("parsed", None),
    "header-only.csv": ("parsed", None),
    "empty.csv": ("parsed", None),
    "blank-lines-before-header.csv.gz": ("parsed", None),
    "blank-lines-between-rows.csv.gz": ("parsed", None),
    "whitespace-lines.csv.gz": ("parsed", None),
}
ROWS = {
    "blank-lines-before-header.csv.gz": 1,
    "blank-lines-between-rows.csv.gz": 2,
    "whitespace-lines.csv.gz": 2,
}


@pytest.mark.slow
def test_bad_input_corpus_gets_clear_errors_in_bounded_memory(tmp_path):
    names = corpus(tmp_path)
    # One fresh process per file, so each peak RSS is that file's own.
    script = textwrap.dedent(
        """
        import json, resource, sys
        from loader.errors import FileRejected
        from loader.parse import parse_file
        try:
            r = parse_file(sys.argv[1])
            out = {"status": "parsed", "rows": r.row_count, "extra": len(r.extra_columns)}
        except FileRejected as e:
            out = {"status": "rejected", "kind": e.kind, "errors": [x.to_dict() for x in e.errors]}
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        """
    )
    for name in names:
        run = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / name)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        report = json.loads(run.stdout)
        status, kind = EXPECTED[name]
        assert report["status"] == status, (name, report)
        if name in ROWS:
            assert report["rows"] == ROWS[name], (name, report)
        if kind:
            assert report["kind"] == kind, (name, report)
            first = report["errors"][0]
            assert first["reason"], name
            assert first["line"] is not None or first["offset"] is not None, (name, first)
        # generous: a fresh interpreter with Polars is ~150 MB; no input here may cost more than
        # a few times its own size
        assert report["peak_mb"] < 700, (name, report["peak_mb"])


def test_pieces_of_many_lines_are_cut_at_record_ends_with_their_lines():
    from loader.parse.csvscan import bounded_pieces, make_piece

    records = [b'a,"multi\nline\n",x\n', b"\n", b"\r\n", b'b,"q""\n""",y\n', b"c,d,e\n"] * 40
    data = b"".join(records)
    pieces = list(bounded_pieces(iter([make_piece(data, 7)]), 3))
    assert len(pieces) > 10 and b"".join(p.data for p in pieces) == data
    line = 7
    for piece in pieces:
        assert piece.data.count(b'"') % 2 == 0  # never inside a quoted field
        assert piece.line == line
        line += piece.newlines


def test_an_error_after_a_million_blank_lines_names_its_line():
    data = csv_bytes("2025-12-09,S,T,C,1") + b"\n" * 1_000_000 + b"2025-12-09,S,T,C,x,y\n"
    error = reject(data)
    assert error.errors[0].line == 1_000_003


def test_the_ten_megabyte_field_names_its_line_and_column():
    error = reject(csv_bytes("2025-12-09,S,T,C,1", "2025-12-09,S,T,C," + "x" * (10 << 20)))
    assert (error.errors[0].line, error.errors[0].column) == (3, "value")


def test_a_record_longer_than_the_limit_is_rejected_not_buffered_forever():
    data = csv_bytes('2025-12-09,S,T,C,"' + "y" * 300_000, "2025-12-09,S,T,C,1")
    error = reject(data, chunk_bytes=4096, max_record_bytes=100_000)
    assert error.kind == "limits" and error.errors[0].line == 2


def test_hundred_thousand_columns_load_the_five_that_matter():
    header = ",".join(
        [f"x{i}" for i in range(50_000)] + HEADER.split(",") + [f"y{i}" for i in range(50_000)]
    )
    row = ",".join(["a"] * 50_000 + ["2025-12-09", "S", "T", "C", "1"] + ["b"] * 50_000)
    result = parse(csv_bytes(row, row.replace(",S,", ",S2,"), header=header))
    assert result.row_count == 2 and len(result.extra_columns) == 100_000
