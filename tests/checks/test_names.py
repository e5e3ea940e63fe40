"""Name normalisation and similarity (Latin and native scripts)."""

from __future__ import annotations

import unicodedata

import pytest

from checks.names import (
    NAME_KEY_MAX,
    latin_tokens,
    name_key,
    native_similarity,
    normalise_latin,
    normalise_native,
    similarity,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nguyễn Thị Ánh", "anh nguyen thi"),
        ("NGUYEN   THI\tANH", "anh nguyen thi"),
        ("Đặng Văn Đức", "dang duc van"),
        ("Trần-Thị, Hồng.", "hong thi tran"),
        ("O'Brien Seán", "obrien sean"),
        ("Søren Łukasz", "lukasz soren"),
        ("ERIKSSON<<ANNA<MARIA", "anna eriksson maria"),
        ("  ", ""),
    ],
)
def test_normalise_latin(raw: str, expected: str) -> None:
    assert normalise_latin(raw) == expected


def test_normalise_latin_composed_and_decomposed_forms_agree() -> None:
    composed = unicodedata.normalize("NFC", "Nguyễn Thị Ánh")
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Ánh")
    assert composed != decomposed
    assert normalise_latin(composed) == normalise_latin(decomposed) == "anh nguyen thi"


def test_normalise_latin_is_order_independent() -> None:
    assert normalise_latin("Thi Anh Nguyen") == normalise_latin("Nguyen Thi Anh")
    assert latin_tokens("Thi Anh Nguyen") == ["thi", "anh", "nguyen"]


def test_normalise_latin_keeps_marks_of_non_latin_scripts() -> None:
    thai = "สมศักดิ์"
    assert normalise_latin(thai) == thai


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("王小明 ", "王小明"),
        ("王 小 明", "王小明"),
        ("王\u200b小\u200c明\u200d\ufeff", "王小明"),
        ("ＷＡＮＧ", "wang"),
        ("สมชาย ใจดี", "สมชายใจดี"),
        ("សុខ\u200bចាន់ថា", "សុខចាន់ថា"),
    ],
)
def test_normalise_native(raw: str, expected: str) -> None:
    assert normalise_native(raw) == expected


def test_vietnamese_diacritics_match() -> None:
    assert similarity("Nguyễn Thị Ánh", "Nguyen Thi Anh") == 1.0
    assert similarity("Đỗ Văn Hùng", "Do Van Hung") == 1.0


def test_swapped_given_and_family_order_scores_one() -> None:
    assert similarity("Thi Anh Nguyen", "Nguyen Thi Anh") == 1.0
    assert similarity("Siti Aminah", "AMINAH, SITI") == 1.0


def test_spelling_variants_score_high_but_below_one() -> None:
    score = similarity("Nguyen Thi Anh", "Nguyen Thi Ahn")
    assert 0.85 <= score < 1.0


def test_joined_tokens_score_high() -> None:
    assert similarity("Nguyen ThiAnh", "Nguyen Thi Anh") >= 0.95


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Nguyen Thi Anh", "Tran Van Hung"),
        ("Nguyen Thi Lan", "Tran Thi Lan"),
        ("Siti Aminah", "Siti Nurhaliza"),
        ("Somchai Jaidee", "Sok Chantha"),
    ],
)
def test_different_names_score_below_threshold(a: str, b: str) -> None:
    assert 0.0 <= similarity(a, b) < 0.85


def test_similarity_is_symmetric_and_bounded() -> None:
    pairs = [("Nguyen Thi Anh", "Nguyen Anh"), ("Dewi Ayu Lestari", "Ayu Dewi"), ("A B C", "C")]
    for a, b in pairs:
        assert similarity(a, b) == pytest.approx(similarity(b, a))
        assert 0.0 <= similarity(a, b) <= 1.0


def test_empty_names_are_not_similar() -> None:
    assert similarity("", "") == 0.0
    assert similarity("Nguyen", "  ") == 0.0
    assert native_similarity("", "王小明") == 0.0


def test_chinese_native_names() -> None:
    assert native_similarity("王小明", "王小明 ") == 1.0
    assert native_similarity("王小明", "李大伟") < 0.85
    assert native_similarity("王小明", "王小红") < 0.85


def test_thai_native_names() -> None:
    assert native_similarity("สมชาย ใจดี", "สมชาย  ใจดี") == 1.0
    assert native_similarity("สมชาย ใจดี", "ใจดี สมชาย") == 1.0
    assert native_similarity("สมชาย ใจดี", "สมศักดิ์ รักไทย") < 0.85
    # SARA AM (U+0E33) and its NFKC decomposition (NIKHAHIT + SARA AA) are the same name.
    assert native_similarity("น้ำฝน", "น\u0e49\u0e4d\u0e32ฝน") == 1.0


def test_khmer_native_names() -> None:
    assert native_similarity("សុខ ចាន់ថា", "សុខ\u200bចាន់ថា") == 1.0
    assert native_similarity("សុខ ចាន់ថា", "ហេង សុភាព") < 0.85


def test_vietnamese_native_name_composed_vs_decomposed() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Ánh")
    assert native_similarity("Nguyễn Thị Ánh", decomposed) == 1.0


def test_name_key_is_normalised_and_order_independent() -> None:
    assert name_key("Thị Ánh", "Nguyễn") == "anh nguyen thi"
    assert name_key("Thị Ánh", "Nguyễn") == name_key("Nguyen", "Thi Anh")
    assert name_key("Anh", "") == "anh"


def test_name_key_fits_the_database_column() -> None:
    key = name_key("æ" * 200, "ǲ" * 200)  # both expand to two letters each
    assert len(key) == NAME_KEY_MAX
