"""How close recognised text is to the truth."""

from rapidfuzz.distance import Levenshtein


def normalized(text: str) -> str:
    return " ".join(text.split())


def accuracy(expected: str, recognized: str) -> float:
    """Character accuracy: 1 - normalised Levenshtein distance on whitespace-normalised text."""
    return 1 - Levenshtein.normalized_distance(normalized(expected), normalized(recognized))
