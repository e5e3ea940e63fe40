"""ICAO 9303 machine-readable zone: check digits and the TD3 (passport) format.

Problem messages never repeat the MRZ's contents (names, numbers, dates), so they may be shown
in reports and logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

TD3_LINE_LENGTH = 44
FILLER = "<"
_WEIGHTS = (7, 3, 1)
_MRZ_CHARS = re.compile(r"[A-Z0-9<]*")
_PASSPORT_NUMBER = re.compile(r"[A-Za-z0-9]+")

# ICAO codes that are not ISO 3166-1 alpha-3 (Germany is "D<<" in an MRZ).
_ICAO_TO_ISO3 = {"D": "DEU"}


class MrzFormatError(ValueError):
    """The text is not a TD3 MRZ at all (line count, length or characters)."""


@dataclass(frozen=True)
class MrzData:
    """The fields of a TD3 MRZ; ``problems`` lists each field that failed validation."""

    document_type: str
    issuing_state: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    birth_date: date | None
    sex: str
    expiry: date | None
    personal_number: str
    problems: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.problems


def _char_value(char: str) -> int:
    if char.isascii() and char.isdigit():
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    if char == FILLER:
        return 0
    raise ValueError(f"character {char!r} is not allowed in an MRZ field")


def check_digit(field: str) -> int:
    """ICAO 9303 check digit: weights 7, 3, 1 repeating; A-Z = 10-35, '<' = 0; sum modulo 10."""
    return sum(_char_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(field)) % 10


def iso3(code: str) -> str:
    """An MRZ state/nationality code as ISO 3166-1 alpha-3 (fillers stripped, 'D' -> 'DEU')."""
    stripped = code.strip(FILLER)
    return _ICAO_TO_ISO3.get(stripped, stripped)


def passport_number_problems(number: str) -> list[str]:
    """Format plausibility of a passport number; messages do not repeat the number."""
    value = number.strip().rstrip(FILLER)
    problems: list[str] = []
    if not value.isascii() or not _PASSPORT_NUMBER.fullmatch(value):
        problems.append("passport number must contain only letters and digits")
    if not 5 <= len(value) <= 20:
        problems.append(f"passport number has {len(value)} characters, expected 5 to 20")
    if value and not any(c.isdigit() for c in value):
        problems.append("passport number contains no digit")
    if len(value) > 1 and len(set(value)) == 1:
        problems.append("passport number repeats a single character (placeholder?)")
    return problems


def _split_lines(text: str) -> tuple[str, str]:
    lines = [line.strip().upper() for line in text.strip().splitlines() if line.strip()]
    if len(lines) != 2:
        raise MrzFormatError(f"a TD3 MRZ has 2 lines, got {len(lines)}")
    for number, line in enumerate(lines, start=1):
        if len(line) != TD3_LINE_LENGTH:
            raise MrzFormatError(
                f"MRZ line {number} has {len(line)} characters, expected {TD3_LINE_LENGTH}"
            )
        if not _MRZ_CHARS.fullmatch(line):
            raise MrzFormatError(f"MRZ line {number} contains characters other than A-Z, 0-9, '<'")
    return lines[0], lines[1]


def _verify(label: str, field: str, digit: str, *, optional: bool = False) -> list[str]:
    if optional and digit == FILLER and set(field) <= {FILLER}:
        return []
    if not (digit.isascii() and digit.isdigit()):
        return [f"{label} check digit is not a digit"]
    if check_digit(field) != int(digit):
        return [f"{label} check digit is wrong"]
    return []


def _yymmdd(value: str, century: int) -> date | None:
    if not value.isdigit():
        return None
    try:
        return date(century + int(value[:2]), int(value[2:4]), int(value[4:6]))
    except ValueError:
        return None


def _birth_date(value: str, today: date) -> date | None:
    recent = _yymmdd(value, 2000)
    if recent is not None and recent <= today:
        return recent
    return _yymmdd(value, 1900)


def _names(field: str) -> tuple[str, str]:
    surname, _, given = field.partition(FILLER * 2)
    return surname.replace(FILLER, " ").strip(), given.replace(FILLER, " ").strip()


def _sex(char: str) -> str:
    return "X" if char == FILLER else char


def _line1_problems(line1: str) -> list[str]:
    problems: list[str] = []
    if line1[0] != "P":
        problems.append("document type is not a passport ('P')")
    if FILLER in line1[2:5].rstrip(FILLER) or not line1[2:5].strip(FILLER):
        problems.append("issuing state code is malformed")
    if not line1[5:].strip(FILLER):
        problems.append("name field is empty")
    return problems


def _line2_problems(line2: str, birth: date | None, expiry: date | None) -> list[str]:
    problems = _verify("document number", line2[0:9], line2[9])
    problems += _verify("date of birth", line2[13:19], line2[19])
    problems += _verify("expiry date", line2[21:27], line2[27])
    problems += _verify("personal number", line2[28:42], line2[42], optional=True)
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    problems += _verify("composite", composite, line2[43])
    if not line2[10:13].strip(FILLER):
        problems.append("nationality code is empty")
    if birth is None:
        problems.append("date of birth is not a valid YYMMDD date")
    if line2[20] not in "MFX<":
        problems.append("sex is not M, F, X or '<'")
    if expiry is None:
        problems.append("expiry date is not a valid YYMMDD date")
    return problems


def parse_mrz(text: str, today: date) -> MrzData:
    """Parse and validate a TD3 MRZ (two 44-character lines separated by a newline).

    Raises ``MrzFormatError`` when the text is not shaped like a TD3 MRZ; field-level problems
    (check digits, dates, codes) are reported in ``MrzData.problems`` instead.
    """
    line1, line2 = _split_lines(text)
    surname, given_names = _names(line1[5:])
    birth = _birth_date(line2[13:19], today)
    expiry = _yymmdd(line2[21:27], 2000)
    return MrzData(
        document_type=line1[0:2].rstrip(FILLER),
        issuing_state=iso3(line1[2:5]),
        surname=surname,
        given_names=given_names,
        document_number=line2[0:9].strip(FILLER),
        nationality=iso3(line2[10:13]),
        birth_date=birth,
        sex=_sex(line2[20]),
        expiry=expiry,
        personal_number=line2[28:42].strip(FILLER),
        problems=tuple(_line1_problems(line1) + _line2_problems(line2, birth, expiry)),
    )


def _clean(value: str) -> str:
    return re.sub(r"[^A-Z0-9]+", FILLER, value.upper()).strip(FILLER)


def _field(value: str, width: int) -> str:
    if len(value) > width:
        raise ValueError(f"value does not fit in {width} MRZ characters")
    return value.ljust(width, FILLER)


def compose_td3(
    *,
    issuing_state: str,
    surname: str,
    given_names: str,
    document_number: str,
    nationality: str,
    birth_date: date,
    sex: str,
    expiry: date,
    personal_number: str = "",
) -> str:
    """Build a valid TD3 MRZ (e.g. for synthetic test data). Names must already be A-Z."""
    name = _clean(surname)
    if _clean(given_names):
        name = f"{name}<<{_clean(given_names)}"
    number = _field(_clean(document_number), 9)
    dob = birth_date.strftime("%y%m%d")
    exp = expiry.strftime("%y%m%d")
    personal = _field(_clean(personal_number), 14)
    personal_cd = str(check_digit(personal)) if _clean(personal_number) else FILLER
    line2 = (
        f"{number}{check_digit(number)}{_field(_clean(nationality), 3)}"
        f"{dob}{check_digit(dob)}{sex if sex in ('M', 'F') else FILLER}"
        f"{exp}{check_digit(exp)}{personal}{personal_cd}"
    )
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    line1 = f"P<{_field(_clean(issuing_state), 3)}{_field(name, 39)}"
    return f"{line1}\n{line2}{check_digit(composite)}"
