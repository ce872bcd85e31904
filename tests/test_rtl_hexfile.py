"""$readmemh files: exact format on writing, tolerant but strict reading."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.errors import UserError
from imsim.rtl.hexfile import format_hex, hex_digits, parse_hex, read_hex, value_range, write_hex


@st.composite
def width_and_values(draw, max_width: int = 80):
    width = draw(st.integers(1, max_width))
    signed = draw(st.booleans()) if width > 1 else False
    lo, hi = value_range(width, signed)
    values = draw(st.lists(st.integers(lo, hi), max_size=40))
    return width, signed, values


@settings(max_examples=200, deadline=None)
@given(width_and_values())
def test_round_trip_any_width(case) -> None:
    width, signed, values = case
    text = format_hex(values, width, signed)
    lines = text.splitlines()
    assert len(lines) == len(values)
    for line, v in zip(lines, values):
        assert len(line) == hex_digits(width) == -(-width // 4)
        assert line == line.lower()
        assert int(line, 16) == v % (1 << width)  # two's complement of v at `width` bits
    back = parse_hex(text, width, signed, count=len(values))
    assert [int(x) for x in back] == values


def test_known_encodings() -> None:
    assert format_hex([-1, 1, -4, 3], 3).split() == ["7", "1", "4", "3"]
    assert format_hex([-2, 5], 8).split() == ["fe", "05"]
    assert format_hex([-1], 9).split() == ["1ff"]
    assert format_hex([-(1 << 31)], 32).split() == ["80000000"]


def test_write_matrix_row_major(tmp_path) -> None:
    M = np.array([[1, -1, 2], [-3, 4, -5]])
    write_hex(tmp_path / "m.hex", M, 4)
    assert (tmp_path / "m.hex").read_text().split() == ["1", "f", "2", "d", "4", "b"]
    assert read_hex(tmp_path / "m.hex", 4, count=6).reshape(2, 3).tolist() == M.tolist()


@pytest.mark.parametrize("value,width,signed", [(8, 4, True), (-9, 4, True), (-1, 4, False), (16, 4, False)])
def test_writing_out_of_range_is_a_bug(value: int, width: int, signed: bool) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        format_hex([value], width, signed)


def test_reader_accepts_tool_output_and_readmemh_syntax() -> None:
    text = ("// 0x00000000\r\n"          # Icarus's $writememh header, CRLF line ends
            "FFFE /* block\n comment */ 0003\n"
            "\t@2   // jump to address 2\n"
            "00_0A  ffff\n"
            "@00000004 7fFf\n")
    assert parse_hex(text, 16, count=5).tolist() == [-2, 3, 10, -1, 32767]
    assert parse_hex(text, 16, signed=False, count=5).tolist() == [0xFFFE, 3, 10, 0xFFFF, 0x7FFF]
    assert parse_hex("@3 1\n@0 5 6 7\n", 4, count=4).tolist() == [5, 6, 7, 1]  # out-of-order addresses


@pytest.mark.parametrize("text,match", [
    ("01\n0x\n", r"<text>:2: value '0x' has x/z"),
    ("01\n02\nzz\n", r"<text>:3: value 'zz' has x/z"),
    ("1X2\n", r"<text>:1: value '1X2' has x/z"),
    ("01\n0g\n", r"<text>:2: value '0g' is not a hex number"),
    ("0x1f\n", r"value '0x1f' has x/z \(unknown\) digits \(or a 0x prefix"),
    ("-1\n", r"'-1' is not a hex number"),
    ("@zz\n1\n", r"address 'zz' has x/z"),
    ("1ff\n", r"'1ff' has more than 8 bits"),
    ("1 /* open\n 2\n", r"<text>:1: unterminated /\* comment"),
    ("@1 5\n@1 6\n", r"address 0x1 written twice"),
])
def test_reader_rejects_malformed(text: str, match: str) -> None:
    with pytest.raises(UserError, match=match) as info:
        parse_hex(text, 8)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text,count,match", [
    ("1\n2\n", 3, "holds 2 values, expected 3"),
    ("1\n2\n3\n4\n", 3, "holds 4 values, expected 3"),
    ("1\n@3 2\n3\n", 3, r"address 0x3 is past the end .* address 0x1 was never written"),
    ("", 2, "holds 0 values, expected 2"),
])
def test_reader_checks_count(text: str, count: int, match: str) -> None:
    with pytest.raises(UserError, match=match):
        parse_hex(text, 8, count=count)


def test_gap_without_count() -> None:
    with pytest.raises(UserError, match="address 0x1 was never written"):
        parse_hex("1\n@2 3\n", 8)


def test_read_missing_file(tmp_path) -> None:
    with pytest.raises(UserError, match="cannot read"):
        read_hex(tmp_path / "nope.hex", 8)


def test_wide_values_use_python_ints() -> None:
    v = -(1 << 100) + 12345
    out = parse_hex(format_hex([v], 128), 128, count=1)
    assert out.dtype == object and int(out[0]) == v


def test_line_comments_keep_the_bulk_path_and_line_numbers():
    """`//` comments ($writememh's address notes) are stripped in bulk; errors keep their line."""
    text = "// 0x00000000\n1 2 // two\n// note\nfffe\n"
    assert parse_hex(text, 16, source="f").tolist() == [1, 2, -2]
    with pytest.raises(UserError, match=r"^f:4: value '1ffff' has more than 16 bits"):
        parse_hex(text.replace("fffe", "1ffff"), 16, source="f")
