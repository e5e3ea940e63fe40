"""Name normalisation and similarity for duplicate detection (Latin and native scripts)."""

from __future__ import annotations

import unicodedata
from difflib import SequenceMatcher
from itertools import permutations

NAME_KEY_MAX = 400  # width of cases.name_key

# Latin letters that NFKD does not decompose into a base letter plus marks.
_LATIN_FOLD = str.maketrans(
    {"đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ı": "i", "ħ": "h", "Ħ": "H",
     "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D"}
)
_APOSTROPHES = frozenset("'’ʼ‘`´")
_MAX_ALIGNED_TOKENS = 6


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def _is_latin_base(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _strip_latin_marks(text: str) -> str:
    """Drop combining marks that follow a Latin letter; other scripts keep their marks."""
    kept: list[str] = []
    base = ""
    for char in text:
        if _is_mark(char):
            if _is_latin_base(base):
                continue
        else:
            base = char
        kept.append(char)
    return "".join(kept)


def _latin_char(char: str) -> str:
    if char in _APOSTROPHES:
        return ""
    if char.isalnum() or _is_mark(char):
        return char
    return " "


def latin_tokens(name: str) -> list[str]:
    """The name's tokens in their original order, folded to plain lower-case letters."""
    text = unicodedata.normalize("NFKD", name).translate(_LATIN_FOLD)
    text = _strip_latin_marks(text).casefold()
    return "".join(_latin_char(c) for c in text).split()


def normalise_latin(name: str) -> str:
    """Comparison form of a Latin-script name: no diacritics or punctuation, sorted tokens."""
    return " ".join(sorted(latin_tokens(name)))


def _drop_in_native(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cf"


def normalise_native(name: str) -> str:
    """Comparison form of a native-script name: NFKC, no whitespace/zero-width chars, casefold."""
    text = unicodedata.normalize("NFKC", name)
    return "".join(c for c in text if not _drop_in_native(c)).casefold()


def _ratio(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _aligned_score(a: list[str], b: list[str]) -> float:
    """Best one-to-one pairing of tokens, weighted by length; unpaired tokens count as misses."""
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if not short or len(long_) > _MAX_ALIGNED_TOKENS:
        return 0.0
    total = sum(len(t) for t in a) + sum(len(t) for t in b)
    best = 0.0
    for chosen in permutations(long_, len(short)):
        matched = sum(_ratio(s, t) * (len(s) + len(t)) for s, t in zip(short, chosen, strict=True))
        best = max(best, matched)
    return best / total


def similarity(a: str, b: str) -> float:
    """Similarity of two Latin-script full names in [0, 1]; token order does not matter."""
    tokens_a, tokens_b = latin_tokens(a), latin_tokens(b)
    if not tokens_a or not tokens_b:
        return 0.0
    scores = (
        _ratio(" ".join(sorted(tokens_a)), " ".join(sorted(tokens_b))),
        _ratio("".join(tokens_a), "".join(tokens_b)),
        _aligned_score(tokens_a, tokens_b),
    )
    return min(1.0, max(scores))


def _native_sorted(name: str) -> str:
    return "".join(sorted(normalise_native(t) for t in unicodedata.normalize("NFKC", name).split()))


def native_similarity(a: str, b: str) -> float:
    """Similarity of two native-script names in [0, 1] (also tolerant of swapped word order)."""
    return max(
        _ratio(normalise_native(a), normalise_native(b)),
        _ratio(_native_sorted(a), _native_sorted(b)),
    )


def name_key(given_names: str, family_name: str) -> str:
    """The normalised Latin key stored per case (at most ``NAME_KEY_MAX`` characters)."""
    return normalise_latin(f"{given_names} {family_name}")[:NAME_KEY_MAX]
