"""Text normalisation and sentence splitting (pure functions: no engine needed)."""

import pytest

from paneas.services.tts.text import clean, normalize, split_sentences


@pytest.mark.parametrize(
    ("language", "text", "spoken"),
    [
        (
            "en-US",
            "Dr. Smith paid $1,234.50.",
            "Doctor Smith paid one thousand, two hundred and thirty-four dollars, fifty cents.",
        ),
        ("en", "It was 50% off on the 3rd.", "It was fifty percent off on the third."),
        ("en", "Born in 1999 at 10:30.", "Born in nineteen ninety-nine at ten thirty."),
        ("en", "It is -4 degrees.", "It is minus four degrees."),
        (
            "pt-BR",
            "O Sr. Silva pagou R$ 1.234,56.",
            "O senhor Silva pagou mil, duzentos e trinta e "
            "quatro reais e cinquenta e seis centavos.",
        ),
        (
            "pt-BR",
            "A 1ª vez, no 2º dia, às 10:30.",
            "A primeira vez, no segundo dia, às dez horas e trinta.",
        ),
        (
            "pt",
            "Temos 3,5 kg e 50% de desconto.",
            "Temos três vírgula cinco kg e cinquenta por cento de desconto.",
        ),
        (
            "pt-BR",
            "A Dra. Ana pagou US$ 10 pelo nº 7.",
            "A doutora Ana pagou dez dólares pelo número sete.",
        ),
        ("es", "Tengo 21 años.", "Tengo veintiuno años."),
        ("ja", "3つ", "3つ"),
    ],
)
def test_normalises_numbers_money_and_abbreviations(language, text, spoken):
    assert normalize(text, language) == spoken


def test_splits_at_sentence_ends_but_not_initials_or_lowercase():
    text = "J. K. Rowling wrote it. Wait... what? Yes! e.g. this stays.\nA new line. Sr. Silva"
    assert split_sentences(text) == [
        "J. K. Rowling wrote it.",
        "Wait... what?",
        "Yes! e.g. this stays.",
        "A new line.",
        "Sr. Silva",
    ]


def test_caps_long_sentences_at_clause_marks_and_drops_empty_pieces():
    long = ", ".join(["one two three four five"] * 20) + "."
    pieces = split_sentences(long + " ... —", max_chars=100)
    assert all(len(piece) <= 100 for piece in pieces)
    assert " ".join(pieces) == long
    assert split_sentences("... !!! —") == []


def test_cleaning_drops_what_engines_choke_on():
    assert clean("Hi\x00 there\u200b\ufeff\u202e.\n\tOk") == "Hi there.\n\tOk"
    # Dozens of dotted letters in a row crash espeak-ng's phonemiser; acronyms stay.
    assert clean("A." * 12) == " ".join(["A."] * 12)
    assert clean("The U.S.A. e.g. here") == "The U.S.A. e.g. here"
