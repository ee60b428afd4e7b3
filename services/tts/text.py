"""Text before synthesis: normalisation (numbers, money, ordinals, abbreviations) and sentence
splitting.

The engines phonemise with espeak-ng, which reads plain digits but gets much else wrong or
language-blind: "R$ 5,50" (reais), "1.234,56" (a Brazilian thousand separator), "1º"/"2ª",
"$5" ("dollar five"), "50%" in pt-BR, "Dr."/"Sr."/"Sra." read letter by letter or as the end of
a sentence. So English and Portuguese (pt-BR) text is normalised here, before splitting, by
rules for the forms above and num2words (Apache-2.0, on PyPI) for the number words themselves;
Spanish, French, German and Italian get number words only. Other languages pass unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from num2words import num2words

_ABBREVIATIONS = {
    "en": {
        "Mr.": "Mister",
        "Mrs.": "Missus",
        "Ms.": "Miz",
        "Dr.": "Doctor",
        "Prof.": "Professor",
        "Jr.": "Junior",
        "Sr.": "Senior",
        "vs.": "versus",
        "etc.": "et cetera",
        "e.g.": "for example",
        "i.e.": "that is",
        "approx.": "approximately",
        "Inc.": "Incorporated",
        "Ltd.": "Limited",
        "Dept.": "Department",
        "Jan.": "January",
        "Feb.": "February",
        "Aug.": "August",
        "Sept.": "September",
        "Oct.": "October",
        "Nov.": "November",
        "Dec.": "December",
    },
    "pt": {
        "Sr.": "senhor",
        "Sra.": "senhora",
        "Srta.": "senhorita",
        "Dr.": "doutor",
        "Dra.": "doutora",
        "Prof.": "professor",
        "Profa.": "professora",
        "Av.": "avenida",
        "Ltda.": "limitada",
        "etc.": "etcétera",
        "p.ex.": "por exemplo",
        "aprox.": "aproximadamente",
        "tel.": "telefone",
        "pág.": "página",
        "n.º": "número",
        "nº": "número",
        "V.Sa.": "vossa senhoria",
    },
}
# "No. 5" / "Nº 5": only before a number, where it cannot be the word "no".
_NUMBER_SIGN = {"en": "number", "pt": "número"}
_PERCENT = {"en": "percent", "pt": "por cento", "es": "por ciento", "fr": "pour cent"}
_MINUS = {"en": "minus", "pt": "menos", "es": "menos", "fr": "moins", "de": "minus", "it": "meno"}
_NUM2WORDS_LANG = {"en": "en", "pt": "pt_BR", "es": "es", "fr": "fr", "de": "de", "it": "it"}
# Currency symbol -> num2words currency code, per language (num2words' pt_BR speaks reais only).
_CURRENCIES = {
    "en": {"US$": "USD", "$": "USD", "€": "EUR", "£": "GBP", "R$": "BRL"},
    "pt": {"R$": "BRL", "US$": "USD", "$": "USD", "€": "EUR", "£": "GBP"},
}
_CURRENCY_WORDS_PT = {
    "USD": ("dólar", "dólares"),
    "EUR": ("euro", "euros"),
    "GBP": ("libra", "libras"),
}
_CURRENCY_WORDS_EN_BRL = ("real", "reais")


def clean(text: str) -> str:
    """Drops what no engine can speak and some choke on: control characters (NUL ends
    espeak-ng's C strings), invisible format characters (zero-width, BOM, bidi overrides),
    unpaired surrogates and private-use code points; newlines and tabs stay. Long runs of
    dotted letters ("A.B.C.D...", dozens of them) crash espeak-ng 1.51's phonemiser (a stack
    overflow in Piper's and Kokoro's in-process copies): they are spaced out ("A. B. C. D.").
    """
    text = "".join(
        char
        for char in unicodedata.normalize("NFC", text)
        if char in "\n\t" or unicodedata.category(char) not in _UNSPEAKABLE
    )
    return _DOTTED_RUN.sub(lambda m: " ".join(re.findall(r"[^\W\d_]+\.", m.group(0))), text)


_UNSPEAKABLE = {"Cc", "Cf", "Cs", "Co", "Cn"}
# Acronyms such as U.S.A. or e.g. stay as written; only unusual runs are spaced.
_DOTTED_RUN = re.compile(r"(?:[^\W\d_]{1,3}\.){8,}")


def family(language: str) -> str:
    """'pt-BR' -> 'pt', 'en_US' -> 'en'."""
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]


def normalize(text: str, language: str) -> str:
    """Spoken form of `text` in `language` (BCP-47); unchanged for languages without rules."""
    lang = family(language)
    text = " ".join(text.split()) if "\n" not in text else _squeeze_lines(text)
    if lang not in _NUM2WORDS_LANG:
        return text
    if lang in _ABBREVIATIONS:
        text = _abbreviations(text, lang)
    if lang in _CURRENCIES:
        text = _sub(_CURRENCY, lambda m: _currency(m, lang), text)
    text = _sub(
        _PERCENT_RE, lambda m: f"{_number(m.group(1), lang)} {_PERCENT.get(lang, '%')}", text
    )
    if lang == "en":
        text = _sub(_ORDINAL_EN, lambda m: _words(int(m.group(1)), lang, "ordinal"), text)
        text = _sub(_TIME, lambda m: _time_en(int(m.group(1)), int(m.group(2))), text)
    elif lang == "pt":
        text = _sub(_ORDINAL_PT, _ordinal_pt, text)
        text = _sub(_TIME, lambda m: _time_pt(int(m.group(1)), int(m.group(2))), text)
    return _sub(_NUMBER, lambda m: _number(m.group(0), lang, allow_year=True), text)


def _sub(pattern: re.Pattern, spoken: Callable[[re.Match], str], text: str) -> str:
    """`pattern.sub`, leaving a match as written when it cannot be said in words (num2words
    refuses numbers past its largest unit, for one): the engine then reads it digit by digit."""

    def replace(match: re.Match) -> str:
        try:
            return spoken(match)
        except (ArithmeticError, ValueError, NotImplementedError, KeyError, IndexError):
            return match.group(0)

    return pattern.sub(replace, text)


def _squeeze_lines(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _abbreviations(text: str, lang: str) -> str:
    for short, spoken in _ABBREVIATIONS[lang].items():
        text = re.sub(rf"(?<![\w.]){re.escape(short)}(?=\s|$|,)", spoken, text)
    return re.sub(r"(?<!\w)(?:No\.|N[º°]|n\.?[º°])\s*(?=\d)", _NUMBER_SIGN[lang] + " ", text)


# Numbers as written: optional sign, digit groups with either separator, optional decimals.
_NUM = r"\d{1,3}(?:[.,]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_NUMBER = re.compile(rf"(?<![\w.,])-?(?:{_NUM})(?![\w])")
_CURRENCY = re.compile(rf"(US\$|R\$|\$|€|£)\s?(-?(?:{_NUM}))(?![\w])")
_PERCENT_RE = re.compile(rf"(-?(?:{_NUM}))\s?%")
_ORDINAL_EN = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_ORDINAL_PT = re.compile(r"\b(\d+)\s?([ºª°]|o\b|a\b)")
_TIME = re.compile(r"\b([01]?\d|2[0-3])[:h]([0-5]\d)\b")


def _value(written: str, lang: str) -> Decimal | None:
    """The number `written` means in `lang`: en has 1,234.56; pt/es/fr/de/it 1.234,56."""
    sign = "-" if written.startswith("-") else ""
    digits = written.lstrip("-")
    thousands, decimal = (",", ".") if lang == "en" else (".", ",")
    if re.fullmatch(rf"\d{{1,3}}(?:\{thousands}\d{{3}})+(?:\{decimal}\d+)?", digits):
        digits = digits.replace(thousands, "")
    elif thousands in digits:
        # "3.14" in pt or "3,5" in en: take the other separator as the decimal point.
        if digits.count(thousands) > 1:
            return None
        digits = digits.replace(thousands, decimal)
    try:
        return Decimal(sign + digits.replace(decimal, "."))
    except InvalidOperation:
        return None


def _words(value: Decimal | int, lang: str, to: str = "cardinal", **kwargs) -> str:
    return num2words(value, lang=_NUM2WORDS_LANG[lang], to=to, **kwargs)


def _number(written: str, lang: str, allow_year: bool = False) -> str:
    value = _value(written, lang)
    if value is None:
        return written
    if value < 0:
        return f"{_MINUS.get(lang, '-')} {_number(written.lstrip('-'), lang)}"
    if value == value.to_integral_value() and "." not in str(value):
        number = int(value)
        if (
            lang == "en"
            and allow_year
            and re.fullmatch(r"\d{4}", written)
            and (1100 <= number <= 1999 or 2010 <= number <= 2099)
        ):
            return _words(number, lang, "year")
        return _words(number, lang)
    return _words(value, lang)


def _currency(match: re.Match, lang: str) -> str:
    code = _CURRENCIES[lang][match.group(1)]
    value = _value(match.group(2), lang)
    if value is None:
        return match.group(0)
    value = value.quantize(Decimal("0.01"))
    if lang == "en" and code != "BRL":
        return _words(value, lang, "currency", currency=code).replace(", zero cents", "")
    units, cents = int(value), int((value - int(value)) * 100)
    if lang == "pt" and code == "BRL":
        return _words(value, lang, "currency")
    one, many = _CURRENCY_WORDS_PT[code] if lang == "pt" else _CURRENCY_WORDS_EN_BRL
    spoken = f"{_words(units, lang)} {one if units == 1 else many}"
    if cents:
        joiner = " e " if lang == "pt" else " and "
        spoken += f"{joiner}{_words(cents, lang)} centavo{'' if cents == 1 else 's'}"
    return spoken


def _ordinal_pt(match: re.Match) -> str:
    words = _words(int(match.group(1)), "pt", "ordinal")
    if match.group(2) in ("ª", "a"):
        words = " ".join(w[:-1] + "a" if w.endswith("o") else w for w in words.split())
    return words


def _time_en(hours: int, minutes: int) -> str:
    if minutes == 0:
        return f"{_words(hours, 'en')} o'clock"
    if minutes < 10:
        return f"{_words(hours, 'en')} oh {_words(minutes, 'en')}"
    return f"{_words(hours, 'en')} {_words(minutes, 'en')}"


def _time_pt(hours: int, minutes: int) -> str:
    hour_word = "hora" if hours == 1 else "horas"
    spoken = f"{_words(hours, 'pt')} {hour_word}"
    if minutes:
        spoken += f" e {_words(minutes, 'pt')}"
    return spoken


# A sentence ends at . ! ? … (and closing quotes or brackets) followed by space and a
# character that can start a sentence; a lone capital before the dot is an initial.
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[¿¡]?[^\s\"'a-z])")
_INITIAL = re.compile(r"(?:^|\s)[A-Z]\.$")
_SPEAKABLE = re.compile(r"\w")


# Abbreviations of every language: raw text (or text normalisation did not cover) keeps
# "Sr. Silva" in one sentence.
_KNOWN_ABBREVIATIONS = {short.lower() for table in _ABBREVIATIONS.values() for short in table}


def _is_abbreviation(piece: str) -> bool:
    words = piece.split()
    return bool(words) and words[-1].lower() in _KNOWN_ABBREVIATIONS


def split_sentences(text: str, max_chars: int = 300) -> list[str]:
    """Sentences (and lines) of `text`, each at most `max_chars` long, ready to synthesise
    one by one; pieces with nothing to say (only punctuation) are dropped."""
    sentences: list[str] = []
    for line in text.splitlines():
        start = 0
        for boundary in _BOUNDARY.finditer(line):
            piece = line[start : boundary.start()]
            if _INITIAL.search(piece.rstrip("\"'”’)]")) or _is_abbreviation(piece):
                continue
            sentences.append(piece)
            start = boundary.end()
        sentences.append(line[start:])
    pieces: list[str] = []
    for sentence in sentences:
        pieces.extend(_cap(sentence.strip(), max_chars))
    return [piece for piece in pieces if _SPEAKABLE.search(piece)]


def _cap(sentence: str, max_chars: int) -> list[str]:
    """Splits a long sentence at the last clause mark, else the last space, before the cap."""
    pieces = []
    while len(sentence) > max_chars:
        window = sentence[:max_chars]
        cut = max(window.rfind(mark) for mark in (",", ";", ":", " — ", " - "))
        if cut < max_chars // 3:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = max_chars - 1
        pieces.append(sentence[: cut + 1].strip())
        sentence = sentence[cut + 1 :].strip()
    pieces.append(sentence)
    return pieces


Normalizer = Callable[[str, str], str]
