"""No file under deploy/ carries a literal secret: secrets come from .env (compose) or a
Secret created out of band (Kubernetes); the .example files hold placeholders only."""

import re

from tests.deploy.support import DEPLOY

# Keys that name a secret (API_TOKENS, POSTGRES_PASSWORD, ticket_secret, OPENAI_API_KEY).
SECRET_KEY = re.compile(r"(password|passwd|secret|token|tokens|api_?key|private_?key)$", re.I)
# key: value or KEY=value, in YAML, env files and Dockerfiles.
ASSIGNMENT = re.compile(r"^\s*-?\s*[\"']?([A-Za-z0-9_.-]+)[\"']?\s*[:=]\s*(.+?)\s*$")
LEAKS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),  # OpenAI keys
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access keys
    re.compile(r"://[^/\s:@]+:[^/\s@$]+@"),  # credentials inside a URL
]


def _is_reference(value: str) -> bool:
    """A value that points elsewhere instead of being a secret."""
    value = value.strip().strip("\"'")
    return (
        not value
        or value.startswith(("${", "$(", "{", "[", "|", ">", "#"))
        or value.startswith("change-me")
        or value in ("true", "false", "null", '""')
        or bool(re.fullmatch(r"[0-9.]+", value))  # a count, not a secret
        or bool(re.fullmatch(r"[A-Z][A-Z0-9_]*", value))  # the name of a variable or key
    )


def _scanned():
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and path.suffix not in (".json", ".py"):
            yield path


def test_no_literal_secret_under_deploy():
    offences = []
    for path in _scanned():
        text = path.read_text()
        for number, line in enumerate(text.splitlines(), start=1):
            if line.lstrip().startswith("#"):
                continue
            offences += [(path, number, p.pattern) for p in LEAKS if p.search(line)]
            match = ASSIGNMENT.match(line)
            if match and SECRET_KEY.search(match.group(1)) and not _is_reference(match.group(2)):
                # Kubernetes refs name a Secret and a key, never a value.
                if match.group(1) not in ("key", "name", "secretName", "secretKeyRef"):
                    offences.append((path, number, line.strip()))
    assert not offences, offences


def test_the_scan_catches_a_literal_secret(tmp_path):
    # The same rules, on lines that must be refused.
    for line in (
        "POSTGRES_PASSWORD=hunter2",
        "  API_TOKENS: abc123",
        "DATABASE_URL: postgresql://paneas:s3cret@postgres:5432/paneas",
        "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz",
    ):
        match = ASSIGNMENT.match(line)
        leaked = any(p.search(line) for p in LEAKS)
        flagged = match and SECRET_KEY.search(match.group(1)) and not _is_reference(match.group(2))
        assert leaked or flagged, line


def test_only_example_env_files_are_shipped():
    env_files = [p for p in DEPLOY.rglob("*") if p.name.startswith(".env") or p.suffix == ".env"]
    assert all(p.name.endswith(".example") for p in env_files), env_files
