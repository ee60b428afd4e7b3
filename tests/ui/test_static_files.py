"""The UI's files as shipped: nothing from outside the gateway, no token storage but the tab's."""

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "gateway" / "static"


def _code(path: Path) -> str:
    """The file without its // comments (which may name what the code must not do)."""
    return re.sub(r"(?m)^\s*//.*$", "", path.read_text(encoding="utf-8"))


def test_no_cdn_and_no_local_storage():
    files = sorted(STATIC.glob("*.*"))
    assert {path.name for path in files} >= {"index.html", "app.js", "pcm-worklet.js"}
    for path in files:
        code = _code(path)
        # Only the SVG namespace is a URL; everything else loads from this origin.
        urls = set(re.findall(r"https?://[^\s\"'`)]+", code)) - {"http://www.w3.org/2000/svg"}
        assert not urls, (path.name, urls)
        assert "localStorage" not in code, path.name
        assert "innerHTML" not in code and "insertAdjacentHTML" not in code, path.name
        assert "eval(" not in code and "new Function" not in code, path.name


def test_shipped_as_package_data():
    setup = (STATIC.parents[1] / "setup.py").read_text(encoding="utf-8")
    assert '"paneas.gateway.static"' in setup
    kinds = {path.suffix for path in STATIC.iterdir() if path.is_file()}
    assert kinds <= {".html", ".js", ".css", ".svg"}, kinds
