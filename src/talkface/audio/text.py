"""English text normalisation for TTS and alignment: numbers, currency, percentages, ordinals and symbols
become words, so the synthesizer and the pronunciation dictionary see the same tokens.
"""
from __future__ import annotations

import re

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_ORDINAL_SUFFIX = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                   "nine": "ninth", "twelve": "twelfth"}
_SYMBOLS = {"&": " and ", "%": " percent ", "+": " plus ", "=": " equals ", "@": " at ", "#": " number ",
            "°": " degrees ", "€": " euros ", "£": " pounds ", "×": " times ", "/": " slash "}


def int_to_words(n: int) -> str:
    """Spell a non-negative integer in English words ('one hundred twenty three')."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return f"{int_to_words(head)} {name}" + ("" if rest == 0 else " " + int_to_words(rest))
    raise AssertionError("unreachable")


def _ordinal(words: str) -> str:
    """Turn spelled cardinal words into the ordinal ('twenty one' → 'twenty first')."""
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_SUFFIX:
        last = _ORDINAL_SUFFIX[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return (head + " " + last).strip()


def _year_words(n: int) -> str:
    """Read a 4-digit year the spoken way (1984 → 'nineteen eighty four', 2005 → 'two thousand five')."""
    hi, lo = divmod(n, 100)
    if lo == 0:
        return int_to_words(hi) + " hundred"
    if 2000 <= n < 2010:
        return int_to_words(n)
    return int_to_words(hi) + " " + ("oh " + _ONES[lo] if lo < 10 else int_to_words(lo))


def _number_words(token: str) -> str:
    """Spell a numeric token: integers (with thousands commas), decimals, and plausible years."""
    grouped = "," in token
    token = token.replace(",", "")
    if "." in token:
        whole, frac = token.split(".", 1)
        return f"{int_to_words(int(whole or 0))} point " + " ".join(_ONES[int(d)] for d in frac)
    n = int(token)
    if len(token) == 4 and 1100 <= n <= 2099 and not grouped:
        return _year_words(n)
    return int_to_words(n)


def normalise_text(text: str) -> str:
    """Rewrite `text` so it contains only words and punctuation (numbers and symbols spelled out)."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = re.sub(r"\$(\d+(?:,\d{3})*(?:\.\d+)?)", lambda m: _money(m.group(1)), text)
    text = re.sub(r"\b(\d{1,2}):(\d{2})\b", lambda m: _clock(int(m.group(1)), int(m.group(2))), text)
    text = re.sub(r"(\d+)(st|nd|rd|th)\b", lambda m: _ordinal(int_to_words(int(m.group(1)))), text)
    text = re.sub(r"(\d)%", r"\1 percent", text)
    text = re.sub(r"(?<![\d.])-(\d)", r"minus \1", text)
    text = re.sub(r"\d+(?:,\d{3})*(?:\.\d+)?", lambda m: " " + _number_words(m.group(0)) + " ", text)
    for sym, word in _SYMBOLS.items():
        text = text.replace(sym, word)
    text = re.sub(r"[\[\]{}<>*_~^|\\`]", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r" ([,.;:!?])", r"\1", text)


def _clock(hours: int, minutes: int) -> str:
    """Read a clock time ('3:05' → 'three oh five', '3:00' → "three o'clock")."""
    if minutes == 0:
        return f"{int_to_words(hours)} o'clock"
    return f"{int_to_words(hours)} " + ("oh " + _ONES[minutes] if minutes < 10 else int_to_words(minutes))


def _money(amount: str) -> str:
    """Spell a dollar amount ('3.50' → 'three dollars fifty cents')."""
    amount = amount.replace(",", "")
    dollars, _, cents = amount.partition(".")
    words = f"{int_to_words(int(dollars or 0))} dollar" + ("" if dollars == "1" else "s")
    if cents and int(cents[:2].ljust(2, "0")):
        c = int(cents[:2].ljust(2, "0"))
        words += f" {int_to_words(c)} cent" + ("" if c == 1 else "s")
    return words


def words_of(text: str) -> list[str]:
    """Lower-case words of normalised `text` (letters and inner apostrophes), for dictionary lookup."""
    return re.findall(r"[a-z]+(?:'[a-z]+)*", normalise_text(text).lower())
