"""What the deploy tests check configs against: the metric names our code defines, read from
its source (every prometheus_client Counter/Gauge/Histogram/Summary with a literal name), and
the PromQL metric names a config uses."""

import ast
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
METRIC_KINDS = {"Counter", "Gauge", "Histogram", "Summary"}

# Series that exporters other than our code produce, by source. Listed by hand (they cannot
# be imported) and kept to the few the dashboards and rules read.
EXTERNAL_METRICS = {
    # Prometheus itself.
    "up",
    # prometheus_client's default process collector, in every one of our processes.
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    # Envoy's /stats/prometheus (cluster.<name>.membership_healthy, upstream_rq_total ...).
    "envoy_cluster_membership_healthy",
    "envoy_cluster_membership_total",
    "envoy_cluster_upstream_rq_total",
    # NVIDIA DCGM exporter's default counters.
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE",
}


def _literal_name(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    for keyword in call.keywords:
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return None


def defined_metrics() -> dict[str, str]:
    """{metric family name: kind} for every metric defined under services/ and gateway/."""
    found: dict[str, str] = {}
    for folder in ("services", "gateway"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if kind in METRIC_KINDS and (name := _literal_name(node)):
                    found[name] = kind
    return found


def exposed_series_names(families: dict[str, str]) -> set[str]:
    """The sample names prometheus_client exposes for each family."""
    names = set()
    for name, kind in families.items():
        if kind == "Counter":
            names.add(name if name.endswith("_total") else f"{name}_total")
        elif kind in ("Histogram", "Summary"):
            names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
            if kind == "Summary":
                names.add(name)
        else:
            names.add(name)
    return names


def recording_rules() -> set[str]:
    names = set()
    for path in (DEPLOY / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


def known_metric_names() -> set[str]:
    return exposed_series_names(defined_metrics()) | recording_rules() | EXTERNAL_METRICS


_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (functions, keywords, labels, durations and
    strings removed). Deliberately simple: our expressions are simple."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"'(?:[^'\\]|\\.)*'", "''", text)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?[\w:]+\}?", " ", text)  # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        word, is_call = match.group(1), match.group(2)
        if is_call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def tool(name: str) -> str:
    """A CLI the checks need; failing (never skipping) when absent: scripts/setup.sh --dev
    installs it from Debian."""
    path = shutil.which(name)
    assert path, f"{name} is not installed: run `bash scripts/setup.sh --dev`"
    return path


def run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)
