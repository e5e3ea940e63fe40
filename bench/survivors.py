"""N synthetic survivors of a mass release, varied from the demo's six (repatriation/synthetic.py).

Every person is invented. Nationalities in the proportions of the 2023-2025 releases from
Cambodian compounds (Chinese, Vietnamese and Indonesian first), names in their native scripts
(Vietnamese with diacritics, Chinese, Thai, Burmese, Lao), and a share of vulnerable people:
minors with a guardian, pregnant women, medical needs, a disability. A few hold a valid passport
(no embassy stage) and a few of those did not consent to disclosure to their embassy.

Dates of birth are unique per index (up to 11,680 adults), so the duplicate detection (same date
of birth, similar name) never merges two of them: ``index`` runs on across the benchmark's phases.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from contracts.survivor import CaseOpenRequest

# (Latin, native script); family name first for the Chinese and Vietnamese native form.
NAMES: dict[str, dict[str, list[tuple[str, str | None]]]] = {
    "VNM": {
        "family": [
            ("Nguyen", "Nguyễn"),
            ("Tran", "Trần"),
            ("Le", "Lê"),
            ("Pham", "Phạm"),
            ("Hoang", "Hoàng"),
            ("Vu", "Vũ"),
            ("Dang", "Đặng"),
            ("Bui", "Bùi"),
            ("Do", "Đỗ"),
            ("Ngo", "Ngô"),
        ],
        "F": [
            ("Thi Lan", "Thị Lan"),
            ("Thi Hoa", "Thị Hoa"),
            ("Thi Mai", "Thị Mai"),
            ("Ngoc Anh", "Ngọc Ánh"),
            ("Thu Trang", "Thu Trang"),
            ("Thi Huong", "Thị Hương"),
        ],
        "M": [
            ("Van Minh", "Văn Minh"),
            ("Van Hung", "Văn Hùng"),
            ("Quoc Bao", "Quốc Bảo"),
            ("Duc Thang", "Đức Thắng"),
            ("Minh Tuan", "Minh Tuấn"),
            ("Van Long", "Văn Long"),
        ],
    },
    "CHN": {
        "family": [
            ("Wang", "王"),
            ("Li", "李"),
            ("Zhang", "张"),
            ("Liu", "刘"),
            ("Chen", "陈"),
            ("Yang", "杨"),
            ("Zhao", "赵"),
            ("Huang", "黄"),
            ("Zhou", "周"),
            ("Wu", "吴"),
        ],
        "F": [("Na", "娜"), ("Jing", "静"), ("Min", "敏"), ("Li", "丽"), ("Xiuying", "秀英"), ("Yan", "燕")],
        "M": [
            ("Xiaoming", "小明"),
            ("Wei", "伟"),
            ("Lei", "磊"),
            ("Jun", "军"),
            ("Hao", "浩"),
            ("Jianguo", "建国"),
        ],
    },
    "THA": {
        "family": [
            ("Wongsa", "วงศ์สา"),
            ("Srisuk", "ศรีสุข"),
            ("Kaewmanee", "แก้วมณี"),
            ("Boonma", "บุญมา"),
            ("Chandee", "จันทร์ดี"),
            ("Saetang", "แซ่ตั้ง"),
        ],
        "F": [("Malee", "มาลี"), ("Suda", "สุดา"), ("Pimchanok", "พิมพ์ชนก"), ("Siriporn", "ศิริพร")],
        "M": [("Somchai", "สมชาย"), ("Somsak", "สมศักดิ์"), ("Anucha", "อนุชา"), ("Prasert", "ประเสริฐ")],
    },
    "MMR": {  # Burmese names have no family name
        "family": [("", None)],
        "F": [
            ("Khin Myat", "ခင်မြတ်"),
            ("Thida", "သီတာ"),
            ("Nilar", "နီလာ"),
            ("Su Su", "စုစု"),
            ("Hnin Wai", "နှင်းဝေ"),
        ],
        "M": [
            ("Aung Kyaw", "အောင်ကျော်"),
            ("Maung Maung", "မောင်မောင်"),
            ("Zaw Win", "ဇော်ဝင်း"),
            ("Kyaw Zin", "ကျော်ဇင်"),
            ("Min Thu", "မင်းသူ"),
        ],
    },
    "LAO": {
        "family": [
            ("Phommachanh", "ພົມມະຈັນ"),
            ("Sisouvanh", "ສີສຸວັນ"),
            ("Vongsavanh", "ວົງສະຫວັນ"),
            ("Keomany", "ແກ້ວມະນີ"),
        ],
        "F": [("Sengdao", "ແສງດາວ"), ("Vanh", "ວັນ"), ("Noy", "ນ້ອຍ")],
        "M": [("Somphone", "ສົມພອນ"), ("Khamphone", "ຄຳພອນ"), ("Bounmy", "ບຸນມີ")],
    },
    "IDN": {
        "family": [
            (n, None) for n in ("Santoso", "Wijaya", "Saputra", "Hidayat", "Lestari", "Pratama", "Nugroho")
        ],
        "F": [(n, None) for n in ("Siti", "Dewi", "Putri", "Ayu", "Rina")],
        "M": [(n, None) for n in ("Budi", "Agus", "Rizky", "Dedi", "Andi")],
    },
    "PHL": {
        "family": [
            (n, None) for n in ("Dela Cruz", "Santos", "Reyes", "Bautista", "Garcia", "Mendoza", "Ramos")
        ],
        "F": [(n, None) for n in ("Maria", "Ana", "Joy", "Kristine", "Liza")],
        "M": [(n, None) for n in ("Jose", "Mark", "John Paul", "Ramon")],
    },
}
LANGUAGE = {"VNM": "vi", "CHN": "zh", "THA": "th", "MMR": "my", "LAO": "lo", "IDN": "id", "PHL": "tl"}
# Shares of a release (weights).
MIX = {"CHN": 25, "VNM": 20, "IDN": 20, "THA": 10, "PHL": 10, "MMR": 10, "LAO": 5}
COMPOUNDS = ["Sihanoukville", "Bavet", "Poipet", "Kampot", "O'Smach", "Phnom Penh (Chinatown)"]
SHELTERS = ["Shelter A, Phnom Penh", "Shelter B, Phnom Penh", "Shelter C, Sihanoukville", "Shelter D, Bavet"]
RECRUITMENT = [
    "Online job advert for a hotel receptionist",
    "Offered a customer service job through a social media advert",
    "Recruited by an agent for a casino job",
    "Promised a translator job by a friend of a friend",
    "Answered a call-centre advert on a messaging app",
]
ADULT_DAYS = 32 * 365  # adults are 19 to 51: unique dates of birth for the first 11,680
MEDICAL = ["Untreated hand injury", "Malnutrition", "Post-traumatic stress; needs an escort", "Tuberculosis"]
CONSENT_ALL = {"repatriation": True, "disclosure_to_embassy": True, "data_processing": True}


def _native(nationality: str, family: tuple[str, str | None], given: tuple[str, str | None]) -> str | None:
    if given[1] is None:
        return None
    if nationality == "CHN":
        return f"{family[1]}{given[1]}"
    if nationality == "VNM":
        return f"{family[1]} {given[1]}"
    if family[1]:
        return f"{given[1]} {family[1]}"
    return given[1]


def survivor(index: int, today: date, rng: random.Random | None = None) -> dict[str, Any]:
    """The ``index``-th survivor (deterministic for an index and a day)."""
    rng = rng or random.Random(index)
    nationality = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    sex = rng.choice("FM")
    names = NAMES[nationality]
    family = rng.choice(names["family"])
    given = rng.choice(names[sex])
    roll = rng.random()
    minor = roll < 0.04
    # Unique dates of birth: adults from 19 years back, one day apart per index; minors 16-17.
    if minor:
        born = date(today.year - 16, today.month, min(today.day, 28)) - timedelta(days=30 + index % 700)
    else:
        born = date(today.year - 19, today.month, min(today.day, 28)) - timedelta(days=index % ADULT_DAYS)
    person: dict[str, Any] = {
        "given_names": given[0],
        "family_name": family[0],
        "date_of_birth": born.isoformat(),
        "sex": sex,
        "nationality": nationality,
        "languages": [LANGUAGE[nationality]],
        "shelter": rng.choice(SHELTERS),
        "phone": f"+855 {rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
        "recruitment": rng.choice(RECRUITMENT),
        "compound": rng.choice(COMPOUNDS),
        "entered_host_country_on": (today - timedelta(days=rng.randint(60, 700))).isoformat(),
        "evidence": {"interview_done": True, "family_contact": rng.random() < 0.7},
        "consent": dict(CONSENT_ALL),
    }
    native = _native(nationality, family, given)
    if native:
        person["native_name"] = native
    if rng.random() < 0.5:
        person["evidence"]["national_id_number"] = "".join(str(rng.randint(0, 9)) for _ in range(12))
    if minor:
        person["guardian"] = {"name": "Case guardian (shelter)", "relationship": "appointed representative"}
        person["evidence"]["birth_certificate"] = True
    elif nationality in ("IDN", "PHL", "THA") and rng.random() < 0.25:
        person["evidence"].update(
            passport_held=True,
            passport_number=f"P{index:07d}A",
            passport_expiry=(today + timedelta(days=rng.randint(400, 2000))).isoformat(),
        )
        if rng.random() < 0.3:
            person["consent"]["disclosure_to_embassy"] = False
    vulnerabilities: dict[str, Any] = {}
    if sex == "F" and not minor and rng.random() < 0.06:
        vulnerabilities["pregnant_weeks"] = rng.randint(8, 24)
    if rng.random() < 0.08:
        vulnerabilities["medical_needs"] = rng.choice(MEDICAL)
        person["consent"]["share_medical_with_authorities"] = rng.random() < 0.7
    if rng.random() < 0.01:
        vulnerabilities["disability"] = "Walks with a crutch after a beating"
    if vulnerabilities:
        person["vulnerabilities"] = vulnerabilities
    return person


def survivors(count: int, today: date, start: int = 0) -> list[dict[str, Any]]:
    return [survivor(i, today) for i in range(start, start + count)]


def open_request(person: dict[str, Any], reference: str) -> CaseOpenRequest:
    return CaseOpenRequest.model_validate({"client_reference": reference, "survivor": person})
