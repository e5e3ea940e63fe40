"""ICAO 9303 check digits and TD3 parsing."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import date

import pytest

from checks.mrz import (
    MrzData,
    MrzFormatError,
    check_digit,
    compose_td3,
    parse_mrz,
    passport_number_problems,
)

TODAY = date(2025, 6, 1)
SPECIMEN_1 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
SPECIMEN_2 = "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
SPECIMEN = f"{SPECIMEN_1}\n{SPECIMEN_2}"


def line2(number: str, nationality: str, dob: str, sex: str, expiry: str, personal: str) -> str:
    """Build TD3 line 2 by hand from raw fields, computing every check digit."""
    number, personal = number.ljust(9, "<"), personal.ljust(14, "<")
    personal_cd = str(check_digit(personal)) if personal.strip("<") else "<"
    body = (
        f"{number}{check_digit(number)}{nationality}{dob}{check_digit(dob)}{sex}"
        f"{expiry}{check_digit(expiry)}{personal}{personal_cd}"
    )
    return body + str(check_digit(body[0:10] + body[13:20] + body[21:43]))


def with_char(line: str, index: int, char: str) -> str:
    return line[:index] + char + line[index + 1 :]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("L898902C3", 6),
        ("740812", 2),
        ("120415", 9),
        ("ZE184226B<<<<<", 1),
        ("<<<<", 0),
        ("B", 7),  # 11 * 7 = 77
        ("Z<1", 6),  # 35 * 7 + 0 * 3 + 1 * 1 = 246
        ("1111", 8),  # 7 + 3 + 1 + 7 = 18
    ],
)
def test_check_digit_known_values(field: str, expected: int) -> None:
    assert check_digit(field) == expected


def test_check_digit_specimen_composite() -> None:
    composite = SPECIMEN_2[0:10] + SPECIMEN_2[13:20] + SPECIMEN_2[21:43]
    assert check_digit(composite) == 0


@pytest.mark.parametrize("field", ["l898902c3", "L898-902", "ÄB12", "12 34"])
def test_check_digit_rejects_other_characters(field: str) -> None:
    with pytest.raises(ValueError):
        check_digit(field)


def test_parse_icao_specimen() -> None:
    mrz = parse_mrz(SPECIMEN, TODAY)
    assert mrz.problems == ()
    assert mrz.valid
    assert mrz.document_type == "P"
    assert mrz.issuing_state == "UTO"
    assert mrz.surname == "ERIKSSON"
    assert mrz.given_names == "ANNA MARIA"
    assert mrz.document_number == "L898902C3"
    assert mrz.nationality == "UTO"
    assert mrz.birth_date == date(1974, 8, 12)
    assert mrz.sex == "F"
    assert mrz.expiry == date(2012, 4, 15)
    assert mrz.personal_number == "ZE184226B"


def test_mrz_data_is_frozen() -> None:
    mrz = parse_mrz(SPECIMEN, TODAY)
    assert isinstance(mrz, MrzData)
    with pytest.raises(FrozenInstanceError):
        mrz.document_number = "X"  # type: ignore[misc]


def test_surrounding_whitespace_and_crlf_are_tolerated() -> None:
    mrz = parse_mrz(f"\n   {SPECIMEN_1}  \r\n\t{SPECIMEN_2} \n\n", TODAY)
    assert mrz.valid
    assert mrz.document_number == "L898902C3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{SPECIMEN_1}\n{SPECIMEN_2[:-1]}", "line 2 has 43 characters, expected 44"),
        (f"{SPECIMEN_1}<\n{SPECIMEN_2}", "line 1 has 45 characters, expected 44"),
        (SPECIMEN_1, "2 lines, got 1"),
        (f"{SPECIMEN}\n{SPECIMEN_2}", "2 lines, got 3"),
        ("", "2 lines, got 0"),
        (f"{SPECIMEN_1}\n{with_char(SPECIMEN_2, 30, '-')}", "line 2 contains characters"),
        (f"{SPECIMEN_1}\n{with_char(SPECIMEN_2, 30, ' ')}", "line 2 contains characters"),
    ],
)
def test_malformed_text_is_rejected_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(MrzFormatError, match=message):
        parse_mrz(text, TODAY)


def test_corrupted_document_number_digit_is_detected() -> None:
    corrupted = with_char(SPECIMEN_2, 3, "9")  # L898902C3 -> L899902C3
    mrz = parse_mrz(f"{SPECIMEN_1}\n{corrupted}", TODAY)
    assert "document number check digit is wrong" in mrz.problems
    assert "composite check digit is wrong" in mrz.problems
    assert not mrz.valid


def test_corrupted_birth_date_digit_is_detected() -> None:
    corrupted = with_char(SPECIMEN_2, 18, "3")  # 740812 -> 740813
    mrz = parse_mrz(f"{SPECIMEN_1}\n{corrupted}", TODAY)
    assert "date of birth check digit is wrong" in mrz.problems
    assert "document number check digit is wrong" not in mrz.problems
    assert mrz.birth_date == date(1974, 8, 13)


def test_corrupted_expiry_and_personal_number_are_detected() -> None:
    expiry = parse_mrz(f"{SPECIMEN_1}\n{with_char(SPECIMEN_2, 22, '3')}", TODAY)
    assert "expiry date check digit is wrong" in expiry.problems
    personal = parse_mrz(f"{SPECIMEN_1}\n{with_char(SPECIMEN_2, 30, '9')}", TODAY)
    assert "personal number check digit is wrong" in personal.problems


def test_only_composite_wrong() -> None:
    mrz = parse_mrz(f"{SPECIMEN_1}\n{with_char(SPECIMEN_2, 43, '7')}", TODAY)
    assert mrz.problems == ("composite check digit is wrong",)


def test_non_digit_check_digit() -> None:
    mrz = parse_mrz(f"{SPECIMEN_1}\n{with_char(SPECIMEN_2, 9, 'A')}", TODAY)
    assert "document number check digit is not a digit" in mrz.problems


def test_problems_do_not_repeat_mrz_contents() -> None:
    corrupted = with_char(with_char(SPECIMEN_2, 3, "9"), 20, "Q")
    mrz = parse_mrz(f"{with_char(SPECIMEN_1, 0, 'V')}\n{corrupted}", TODAY)
    assert len(mrz.problems) >= 3
    for problem in mrz.problems:
        for secret in ("ERIKSSON", "ANNA", "L89", "740812", "ZE184226B"):
            assert secret not in problem.upper()


def test_vietnamese_survivor_mrz_built_with_check_digit_round_trips() -> None:
    first = "P<VNMNGUYEN<<THI<ANH".ljust(44, "<")
    second = line2("C1234567", "VNM", "980314", "F", "310701", "")
    text = f"{first}\n{second}"
    assert len(second) == 44
    mrz = parse_mrz(text, TODAY)
    assert mrz.problems == ()
    assert (mrz.surname, mrz.given_names) == ("NGUYEN", "THI ANH")
    assert mrz.document_number == "C1234567"
    assert mrz.issuing_state == mrz.nationality == "VNM"
    assert mrz.birth_date == date(1998, 3, 14)
    assert mrz.expiry == date(2031, 7, 1)
    assert mrz.sex == "F"
    assert mrz.personal_number == ""
    composed = compose_td3(
        issuing_state="VNM",
        surname="Nguyen",
        given_names="Thi Anh",
        document_number="C1234567",
        nationality="VNM",
        birth_date=date(1998, 3, 14),
        sex="F",
        expiry=date(2031, 7, 1),
    )
    assert composed == text


def test_compose_reproduces_icao_specimen() -> None:
    composed = compose_td3(
        issuing_state="UTO",
        surname="ERIKSSON",
        given_names="ANNA MARIA",
        document_number="L898902C3",
        nationality="UTO",
        birth_date=date(1974, 8, 12),
        sex="F",
        expiry=date(2012, 4, 15),
        personal_number="ZE184226B",
    )
    assert composed == SPECIMEN


def test_compose_rejects_overlong_fields() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        compose_td3(
            issuing_state="VNM",
            surname="NGUYEN",
            given_names="ANH",
            document_number="C12345678901",
            nationality="VNM",
            birth_date=date(1998, 3, 14),
            sex="F",
            expiry=date(2031, 7, 1),
        )


@pytest.mark.parametrize(
    ("yymmdd", "today", "expected"),
    [
        ("050101", TODAY, date(2005, 1, 1)),
        ("250601", TODAY, date(2025, 6, 1)),
        ("250602", TODAY, date(1925, 6, 2)),
        ("300101", TODAY, date(1930, 1, 1)),
        ("990101", TODAY, date(1999, 1, 1)),
        ("100101", date(2009, 12, 31), date(1910, 1, 1)),
    ],
)
def test_birth_century_is_never_in_the_future(yymmdd: str, today: date, expected: date) -> None:
    text = f"{SPECIMEN_1}\n{line2('C1234567', 'VNM', yymmdd, 'F', '310701', '')}"
    mrz = parse_mrz(text, today)
    assert mrz.birth_date == expected
    assert mrz.problems == ()


def test_expiry_is_always_in_the_2000s() -> None:
    text = f"{SPECIMEN_1}\n{line2('C1234567', 'VNM', '980314', 'F', '990101', '')}"
    assert parse_mrz(text, TODAY).expiry == date(2099, 1, 1)


def test_invalid_dates_are_reported_not_raised() -> None:
    text = f"{SPECIMEN_1}\n{line2('C1234567', 'VNM', '981314', 'F', '310231', '')}"
    mrz = parse_mrz(text, TODAY)
    assert mrz.birth_date is None
    assert mrz.expiry is None
    assert "date of birth is not a valid YYMMDD date" in mrz.problems
    assert "expiry date is not a valid YYMMDD date" in mrz.problems


def test_sex_filler_is_unspecified_and_unknown_sex_is_a_problem() -> None:
    def mrz_with_sex(sex: str) -> MrzData:
        second = line2("C1234567", "VNM", "980314", sex, "310701", "")
        return parse_mrz(f"{SPECIMEN_1}\n{second}", TODAY)

    unspecified = mrz_with_sex("<")
    assert unspecified.sex == "X"
    assert unspecified.problems == ()
    unknown = mrz_with_sex("Q")
    assert "sex is not M, F, X or '<'" in unknown.problems


def test_empty_personal_number_accepts_filler_or_zero_check_digit() -> None:
    with_filler = line2("C1234567", "VNM", "980314", "F", "310701", "")
    assert with_filler[42] == "<"
    assert parse_mrz(f"{SPECIMEN_1}\n{with_filler}", TODAY).problems == ()
    zero = with_char(with_filler, 42, "0")  # the composite is unchanged: '<' and '0' are both 0
    assert parse_mrz(f"{SPECIMEN_1}\n{zero}", TODAY).problems == ()


def test_germany_short_code_maps_to_iso3() -> None:
    first = "P<D<<MUSTERMANN<<ERIKA".ljust(44, "<")
    text = f"{first}\n{line2('C01X00T47', 'D<<', '640812', 'F', '310701', '')}"
    mrz = parse_mrz(text, TODAY)
    assert (mrz.issuing_state, mrz.nationality) == ("DEU", "DEU")
    assert mrz.problems == ()


def test_line1_problems() -> None:
    mrz = parse_mrz(f"{with_char(SPECIMEN_1, 0, 'I')}\n{SPECIMEN_2}", TODAY)
    assert mrz.problems == ("document type is not a passport ('P')",)
    empty_name = parse_mrz(f"{'P<UTO'.ljust(44, '<')}\n{SPECIMEN_2}", TODAY)
    assert "name field is empty" in empty_name.problems


def test_lower_case_mrz_is_read_as_upper_case() -> None:
    assert parse_mrz(SPECIMEN.lower(), TODAY).problems == ()


@pytest.mark.parametrize("number", ["C1234567", "N1234567<<", "AA1234567", "E12345678", "12345"])
def test_plausible_passport_numbers(number: str) -> None:
    assert passport_number_problems(number) == []


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("C123", "has 4 characters, expected 5 to 20"),
        ("C" + "1" * 20, "has 21 characters, expected 5 to 20"),
        ("C123-4567", "only letters and digits"),
        ("C1234 567", "only letters and digits"),
        ("C１２３４５６", "only letters and digits"),
        ("ABCDEFGH", "contains no digit"),
        ("0000000", "repeats a single character"),
    ],
)
def test_implausible_passport_numbers(number: str, problem: str) -> None:
    problems = passport_number_problems(number)
    assert any(problem in p for p in problems), problems
    assert all(number not in p for p in problems)
