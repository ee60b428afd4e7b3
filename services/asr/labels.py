"""Speaker labels: files, live streams and jobs name the speakers they hear alike."""


def speaker_label(index: int) -> str:
    """The label of the `index`-th speaker heard (0-based), as spreadsheet columns: A to Z,
    then AA, AB, ..."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(ord("A") + rest) + label
    return label
