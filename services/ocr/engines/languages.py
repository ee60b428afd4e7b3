"""Language hints (ISO 639-1, ISO 639-2, BCP-47) normalised to Tesseract-style codes.

Tesseract names its models by ISO 639-2/T code, plus a script suffix where one language
has several (chi_sim, chi_tra, srp_latn); every engine reports its languages in that form.
"""

from paneas.services.ocr.errors import InvalidDocument

ISO_639_1_TO_CODE = {
    "af": "afr", "ar": "ara", "az": "aze", "be": "bel", "bg": "bul", "bn": "ben",
    "bs": "bos", "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu",
    "el": "ell", "en": "eng", "es": "spa", "et": "est", "eu": "eus", "fa": "fas",
    "fi": "fin", "fr": "fra", "ga": "gle", "gl": "glg", "he": "heb", "hi": "hin",
    "hr": "hrv", "hu": "hun", "id": "ind", "is": "isl", "it": "ita", "ja": "jpn",
    "ko": "kor", "ku": "kmr", "la": "lat", "lb": "ltz", "lt": "lit", "lv": "lav",
    "mi": "mri", "ms": "msa", "mt": "mlt", "nl": "nld", "no": "nor", "nb": "nor",
    "oc": "oci", "pl": "pol", "pt": "por", "qu": "que", "rm": "roh", "ro": "ron",
    "ru": "rus", "sk": "slk", "sl": "slv", "sq": "sqi", "sr": "srp", "sv": "swe",
    "sw": "swa", "th": "tha", "tl": "tgl", "tr": "tur", "uk": "ukr", "ur": "urd",
    "uz": "uzb", "vi": "vie", "zh": "chi_sim",
}  # fmt: skip

# ISO 639-2/B codes that differ from the /T codes Tesseract uses.
BIBLIOGRAPHIC_TO_TERMINOLOGIC = {
    "alb": "sqi", "baq": "eus", "chi": "chi_sim", "cze": "ces", "dut": "nld",
    "fre": "fra", "ger": "deu", "gre": "ell", "ice": "isl", "may": "msa",
    "per": "fas", "rum": "ron", "slo": "slk", "wel": "cym",
}  # fmt: skip

# BCP-47 tags whose script or region selects a different model than the bare language.
SCRIPT_VARIANTS = {
    ("zh", "hans"): "chi_sim", ("zh", "cn"): "chi_sim", ("zh", "sg"): "chi_sim",
    ("zh", "hant"): "chi_tra", ("zh", "tw"): "chi_tra", ("zh", "hk"): "chi_tra",
    ("sr", "latn"): "srp_latn",
}  # fmt: skip


def normalize_language(hint: str) -> str | None:
    """The Tesseract-style code for one hint ("pt-BR" -> "por"); None when unrecognisable."""
    tag = hint.strip().replace("_", "-").lower()
    # Tesseract's own multi-part names (chi_sim, srp_latn) arrive with '_' turned to '-'.
    if tag in {"chi-sim", "chi-tra", "srp-latn"}:
        return tag.replace("-", "_")
    primary, *subtags = tag.split("-")
    for subtag in subtags:
        if (primary, subtag) in SCRIPT_VARIANTS:
            return SCRIPT_VARIANTS[(primary, subtag)]
    if len(primary) == 2:
        return ISO_639_1_TO_CODE.get(primary)
    if len(primary) == 3 and primary.isalpha():
        return BIBLIOGRAPHIC_TO_TERMINOLOGIC.get(primary, primary)
    return None


def resolve_languages(hints: list[str], available: list[str], engine_name: str) -> list[str]:
    """Normalise hints, drop duplicates keeping order, and check the engine can read them."""
    codes = {hint: normalize_language(hint) for hint in hints}
    missing = [hint for hint, code in codes.items() if code not in available]
    if missing:
        raise InvalidDocument(
            f"language(s) {', '.join(repr(hint) for hint in missing)} not available for engine "
            f"{engine_name}; use ISO 639-1/-2 or BCP-47 codes, available: "
            f"{', '.join(sorted(available))}"
        )
    return list(dict.fromkeys(code for code in codes.values() if code is not None))
