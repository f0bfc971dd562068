from __future__ import annotations

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from fangkong.lib.encoding import (
    ENCODINGS,
    Decoded,
    EncodingProblem,
    decode_bytes,
    mojibake_reason,
)

ROSTER = "姓名,身份证号,联系电话\r\n张伟,110105194912310021,13812345678\r\n"

pytestmark = pytest.mark.usefixtures("english")


def problem(data: bytes, **kwargs: str) -> EncodingProblem:
    with pytest.raises(EncodingProblem) as excinfo:
        decode_bytes(data, **kwargs)
    return excinfo.value


# --- decode_bytes -------------------------------------------------------------------


def test_utf8_roster() -> None:
    assert decode_bytes(ROSTER.encode("utf-8")) == Decoded(ROSTER, "utf-8", ("utf-8", "gb18030"))


def test_utf8_only_decodable_in_utf8() -> None:
    data = "张,伟\n".encode()  # "," after a misaligned byte is no GB18030 trail byte
    assert decode_bytes(data) == Decoded("张,伟\n", "utf-8", ("utf-8",))


def test_utf8_with_bom() -> None:
    assert decode_bytes(ROSTER.encode("utf-8-sig")) == Decoded(ROSTER, "utf-8-sig", ("utf-8-sig",))


def test_bom_then_invalid_utf8() -> None:
    error = problem(b"\xef\xbb\xbfab\xff")
    assert (error.code, error.position, error.byte) == ("undecodable", 5, 0xFF)
    assert str(error) == (
        "The file is not valid UTF-8 after its BOM: byte 0xFF at position 5 cannot be "
        "read. Save it again as UTF-8 (Excel: Save As → CSV UTF-8)."
    )


def test_gb18030_roster() -> None:
    assert decode_bytes(ROSTER.encode("gb18030")) == Decoded(ROSTER, "gb18030", ("gb18030",))


def test_gbk_bytes_are_read_as_gb18030() -> None:
    assert decode_bytes("海口市,龙华区\r\n".encode("gbk")).encoding == "gb18030"


def test_ascii_and_empty() -> None:
    assert decode_bytes(b"name,id\r\n") == Decoded("name,id\r\n", "utf-8", ("utf-8", "gb18030"))
    assert decode_bytes(b"") == Decoded("", "utf-8", ("utf-8", "gb18030"))


def test_long_utf8_chinese_that_gb18030_also_decodes_is_utf8() -> None:
    text = "中华人民共和国海南省海口市龙华区金贸街道"
    data = text.encode("utf-8")
    data.decode("gb18030")  # also valid GB18030: a tie settled by character frequency
    assert decode_bytes(data) == Decoded(text, "utf-8", ("utf-8", "gb18030"))


def test_utf8_cut_mid_character() -> None:
    data = ROSTER.encode("utf-8")[:14]  # 姓名,身份证 + first byte of 号... cut inside 证
    assert data[13:] == b"\xe8"
    error = problem(data)
    assert (error.code, error.position, error.byte) == ("truncated", 13, 0xE8)
    assert str(error) == (
        "The file ends in the middle of a character (byte 13 of 14): it was probably cut "
        "off while copying or uploading. Check that the whole file was sent, or save it "
        "again as UTF-8."
    )


def test_gb18030_cut_mid_character() -> None:
    data = "张伟,李娜".encode("gb18030")[:-1]
    error = problem(data)
    assert (error.code, error.position) == ("undecodable", 7)


def test_latin1_bytes_are_neither() -> None:
    error = problem("José García\r\n".encode("latin-1"))
    assert (error.code, error.position, error.byte, error.candidates) == (
        "undecodable",
        3,
        0xE9,
        (),
    )
    assert str(error) == (
        "The file is neither UTF-8 nor GBK/GB18030: byte 0xE9 at position 3 cannot be "
        "read. Save it again as UTF-8 (Excel: Save As → CSV UTF-8)."
    )


def test_undecodable_reports_the_reading_that_got_further() -> None:
    # GBK text with one corrupted byte (0xFF) late in the file: UTF-8 fails at once,
    # GB18030 at the corruption, which is what the user must look for.
    data = "张伟,李娜,王芳".encode("gbk") + b"\xff\xff"
    error = problem(data)
    assert (error.code, error.position) == ("undecodable", 14)


def test_short_input_valid_in_both_is_ambiguous() -> None:
    data = "张伟".encode()
    assert data.decode("gb18030") == "寮犱紵"
    error = problem(data)
    assert error.code == "ambiguous"
    assert error.candidates == ("utf-8", "gb18030")
    assert error.readings == (
        Decoded("张伟", "utf-8", ("utf-8", "gb18030")),
        Decoded("寮犱紵", "gb18030", ("utf-8", "gb18030")),
    )
    assert "choose the encoding" in str(error)


def test_gbk_bytes_that_are_valid_utf8_are_ambiguous() -> None:
    # GBK 茅 is the UTF-8 of é: the UTF-8 reading is no Chinese, the GBK one is.
    assert problem("茅".encode("gbk")).code == "ambiguous"


def test_forced_encoding_after_asking_the_user() -> None:
    data = "张伟".encode()
    assert decode_bytes(data, encoding="gb18030") == Decoded("寮犱紵", "gb18030", ("gb18030",))
    assert decode_bytes(data, encoding="utf-8") == Decoded("张伟", "utf-8", ("utf-8",))
    error = problem(ROSTER.encode("gb18030"), encoding="utf-8")
    assert (error.code, error.position, error.byte) == ("undecodable", 0, 0xD0)
    assert str(error).startswith("The file is not valid utf-8: byte 0xD0 at position 0")
    with pytest.raises(ValueError, match="unsupported encoding"):
        decode_bytes(b"", encoding="latin-1")


def test_encoding_problem_is_a_value_error() -> None:
    assert issubclass(EncodingProblem, ValueError)


# --- mojibake_reason ----------------------------------------------------------------

CLEAN = [
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈静",
    "杨秀英",
    "赵赟",
    "周堃",
    "吴犇",
    "郑喆",
    "孙昇",
    "欧阳娜娜",
    "司马懿",
    "诸葛亮",
    "上官婉儿",
    "端木蓉",
    "皇甫嵩",
    "慕容复",
    "尉迟恭",
    "公孙胜",
    "买买提·艾力",
    "阿依古丽·吐尔逊",
    "热依扎·买买提",
    "扎西顿珠",
    "格桑梅朵",
    "龚婧",
    "禤国维",
    "乜小红",
    "覃海",
    "邝美云",
    "冼星海",
    "翟天临",
    "瞿秋白",
    "黄晓明（长子）",
    "海口市龙华区金贸街道",
    "3栋2单元501室",
    "三号楼二单元501室",
    "3-2-501",
    "北京市朝阳区建国路88号",
    "广州市天河区体育西路191号中石化大厦B塔",
    "武汉市洪山区珞喻路1037号",
    "海南省海口市秀英区“长流镇”",
    "户主：张三；与户主关系：子",
    "王小明 — 租户…",
    "是否在家？",
    "在家吗?",
    "John Smith",
    "Mary-Jane O'Neil",
    "José García",
    "Conceição",
    "Müller-Lüdenscheidt",
    "François",
    "13812345678",
    "110105194912310021",
    "?",
    "",
]


@pytest.mark.parametrize("text", CLEAN)
def test_clean_text(text: str) -> None:
    assert mojibake_reason(text) is None


REAL = [
    "海口市",
    "张伟",
    "赵赟",
    "周堃",
    "欧阳娜娜",
    "买买提·艾力",
    "3栋2单元501室",
    "龙华区金贸街道",
]


def _garble(text: str) -> dict[str, str]:
    return {
        "gbk-as-latin1": text.encode("gbk").decode("latin-1"),
        "utf8-as-latin1": text.encode("utf-8").decode("latin-1"),
        "utf8-as-cp1252": text.encode("utf-8").decode("cp1252", errors="replace"),
        "utf8-as-gbk": text.encode("utf-8").decode("gbk", errors="replace"),
        "gbk-as-utf8": text.encode("gbk").decode("utf-8", errors="replace"),
        "gbk-as-utf8-saved-as-gbk": text.encode("gbk")
        .decode("utf-8", errors="replace")
        .encode("gbk", errors="replace")
        .decode("gbk"),
    }


@pytest.mark.parametrize(
    ("text", "how"), [(text, how) for text in REAL for how in _garble("海").keys()]
)
def test_garbled_real_text_is_mojibake(text: str, how: str) -> None:
    garbled = _garble(text)[how]
    assert garbled != text
    assert mojibake_reason(garbled) is not None, (how, garbled)


UTF8_AS_GBK = "looks like UTF-8 text that was read as GBK (wrong encoding)"
GBK_AS_LATIN1 = "looks like GBK text that was read as Latin-1 (wrong encoding)"
UTF8_AS_LATIN1 = "looks like UTF-8 text that was read as Latin-1 (wrong encoding)"
REPLACEMENT = "contains the replacement character � (text lost in a conversion)"
PRIVATE = "contains private-use characters (text broken in a conversion)"
QUESTIONS = "contains question marks where Chinese characters should be"
MOSTLY_QUESTIONS = "is mostly question marks: the Chinese characters were lost"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("??谑", QUESTIONS),  # 海口市 in CONTEXT.md
        ("海口??", QUESTIONS),
        ("张?伟", QUESTIONS),
        ("?伟", QUESTIONS),
        ("???", MOSTLY_QUESTIONS),
        ("?? ??", MOSTLY_QUESTIONS),
        ("海口\ufffd", REPLACEMENT),
        ("\ufffd\ufffd", REPLACEMENT),
        ("张\ue000", PRIVATE),
        ("娴峰彛甯\ufffd", UTF8_AS_GBK),  # "海口市" UTF-8 read as GBK, last byte lost
        ("娴峰彛甯?", UTF8_AS_GBK),  # ... and saved as GBK again
        ("寮犱紵", UTF8_AS_GBK),  # 张伟
        ("璧佃禑", UTF8_AS_GBK),  # 赵赟
        ("º£¿ÚÊÐ", GBK_AS_LATIN1),  # 海口市
        ("ÕÔÚS", GBK_AS_LATIN1),  # 赵赟: a GBK trail byte in ASCII
        ("æµ·å\x8f£å¸\x82", UTF8_AS_LATIN1),  # 海口市
        ("æµ·å£å¸", UTF8_AS_LATIN1),  # ... with the C1 controls dropped
        ("Ã©cole", UTF8_AS_LATIN1),
        ("donâ€™t", UTF8_AS_LATIN1),
    ],
)
def test_mojibake_reasons(text: str, reason: str) -> None:
    assert mojibake_reason(text) == reason


def test_reason_is_translated() -> None:
    with translation.override("zh-hans"):
        assert isinstance(mojibake_reason("??谑"), str)


# --- properties ---------------------------------------------------------------------

common_cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
ascii_alnum = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
punctuation = st.sampled_from(list(",.;:!-()/ \r\n，。、；：！（）《》“”·"))
# Precondition of the round trip: at least 12 characters, at least one of them CJK
# (built in rather than filtered, so that Hypothesis does not discard most inputs).
roster_texts = st.builds(
    lambda cjk, rest, at: rest[:at] + cjk + rest[at:],
    common_cjk,
    st.lists(st.one_of(common_cjk, common_cjk, ascii_alnum, punctuation), min_size=11).map("".join),
    st.integers(0, 200),
)


@given(roster_texts, st.sampled_from(ENCODINGS))
def test_roster_text_round_trips(text: str, encoding: str) -> None:
    """Any text of >= 12 characters with CJK comes back in the encoding it was written
    in, or a tie is reported with that encoding among the candidates (possible for
    UTF-8 or GB18030 bytes valid in both; never with a BOM)."""
    assert len(text) >= 12
    data = text.encode(encoding)
    try:
        decoded = decode_bytes(data)
    except EncodingProblem as error:
        assert error.code == "ambiguous"
        assert encoding in error.candidates
        assert encoding != "utf-8-sig"
        return
    assert decoded.text == text
    assert decoded.encoding == encoding


@given(st.text())
def test_mojibake_reason_never_raises(text: str) -> None:
    reason = mojibake_reason(text)
    assert reason is None or isinstance(reason, str)


@given(st.binary())
def test_decode_bytes_raises_only_encoding_problem(data: bytes) -> None:
    try:
        decoded = decode_bytes(data)
    except EncodingProblem as error:
        assert error.code in {"undecodable", "truncated", "ambiguous"}
        assert str(error)
    else:
        assert decoded.encoding in ENCODINGS
        assert decoded.text.encode(decoded.encoding) == data
