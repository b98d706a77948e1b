import sys

import pytest

from loader.errors import ConfigError
from loader.parse import WHITESPACE
from loader.settings import BadRowAllowance, ParseSettings, codec_name, parse_prefix_map


def test_whitespace_set_is_pythons_str_strip_set():
    expected = {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}
    assert set(WHITESPACE) == expected
    assert "\x1c" in WHITESPACE and "\u00a0" in WHITESPACE and "\u3000" in WHITESPACE


@pytest.mark.parametrize(
    ("text", "count", "fraction"),
    [("0", 0, None), ("250", 250, None), ("0.01", 0, 0.01), ("1%", 0, 0.01), (" 5 ", 5, None)],
)
def test_bad_row_allowance_parses_counts_fractions_and_percentages(text, count, fraction):
    allowance = BadRowAllowance.parse(text)
    assert allowance.count == count
    assert allowance.fraction == pytest.approx(fraction) if fraction else allowance.fraction is None


@pytest.mark.parametrize("text", ["-1", "abc", "1.5", "150%"])
def test_bad_row_allowance_rejects_nonsense(text):
    with pytest.raises(ConfigError):
        BadRowAllowance.parse(text)


def test_allowance_limits():
    assert BadRowAllowance().strict
    assert not BadRowAllowance().allows(1, 1000)
    assert BadRowAllowance(count=2).allows(2, 10)
    assert not BadRowAllowance(count=2).allows(3, 10)
    assert BadRowAllowance(fraction=0.1).allows(10, 100)
    assert not BadRowAllowance(fraction=0.1).allows(11, 100)


def test_codec_names_are_pythons():
    assert codec_name("windows-1252") == "cp1252"
    assert codec_name("TIS-620") == "tis-620"
    assert codec_name("UTF8") == "utf-8"
    with pytest.raises(ConfigError):
        codec_name("no-such-codec")


def test_encoding_by_prefix_longest_match_and_explicit_override():
    settings = ParseSettings(encoding_by_prefix=parse_prefix_map("raw/=cp1252;raw/th/=cp874"))
    assert settings.encoding_for("raw/th/x.csv") == "cp874"
    assert settings.encoding_for("raw/eu/x.csv") == "cp1252"
    assert settings.encoding_for("other/x.csv") is None
    assert (
        ParseSettings(
            encoding="cp874", encoding_by_prefix=settings.encoding_by_prefix
        ).encoding_for("raw/eu/x.csv")
        == "cp874"
    )


def test_explicit_arguments_beat_environment():
    env = {
        "FUNDSYNC_DATE_ORDER": "day-first",
        "FUNDSYNC_MAX_BAD_ROWS": "5",
        "FUNDSYNC_BUDDHIST_ERA": "yes",
        "FUNDSYNC_ALLOWED_ENCODINGS": "cp874",
    }
    from_env = ParseSettings.from_env(env)
    assert from_env.default_date_order == "day-first"
    assert from_env.max_bad_rows.count == 5
    assert from_env.buddhist_era is True
    assert from_env.allowed_encodings == ("cp874",)
    explicit = ParseSettings.from_env(env, default_date_order="month-first", buddhist_era=None)
    assert explicit.default_date_order == "month-first"
    assert explicit.buddhist_era is True


def test_invalid_settings_are_config_errors():
    with pytest.raises(ConfigError):
        ParseSettings(default_date_order="sideways")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        ParseSettings(allowed_encodings=())
    with pytest.raises(ConfigError):
        parse_prefix_map("raw/th/")
