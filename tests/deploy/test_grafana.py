"""Grafana dashboards and provisioning (Grafana itself is not installable here: the JSON and
YAML are checked for what Grafana would refuse or silently show empty)."""

import importlib.util
import json
import re

import yaml

from tests.deploy.support import DEPLOY, known_metric_names, promql_metric_names

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def _provisioned_datasources() -> dict[str, str]:
    config = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )
    return {source["uid"]: source["type"] for source in config["datasources"]}


def _panels(board: dict) -> list[dict]:
    panels = []
    for panel in board["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows
    return panels


def test_the_five_dashboards_exist_and_are_provisioned():
    names = {path.stem for path in DASHBOARDS}
    assert names == {"paneas-gpu", "paneas-api", "paneas-llm", "paneas-asr", "paneas-system"}
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    compose = (DEPLOY / "compose" / "docker-compose.yml").read_text()
    assert "../grafana/dashboards:/var/lib/grafana/dashboards:ro" in compose
    assert "../grafana/provisioning:/etc/grafana/provisioning:ro" in compose


def test_dashboards_are_valid_with_unique_uids_and_panel_ids():
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] not in uids, path.name
        uids.add(board["uid"])
        assert board["title"] and board["panels"], path.name
        ids = [panel["id"] for panel in _panels(board)]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in _panels(board):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, (path.name, panel["title"])
            ref_ids = [target["refId"] for target in panel.get("targets", [])]
            assert len(ref_ids) == len(set(ref_ids)), (path.name, panel["title"])


def test_datasource_uids_match_provisioning():
    provisioned = _provisioned_datasources()
    assert provisioned == {"prometheus": "prometheus", "loki": "loki", "tempo": "tempo"}
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        sources = [v["datasource"] for v in board["templating"]["list"] if "datasource" in v]
        for panel in _panels(board):
            sources.append(panel["datasource"])
            sources.extend(target["datasource"] for target in panel.get("targets", []))
        for source in sources:
            assert provisioned.get(source["uid"]) == source["type"], (path.name, source)
    # Cross-links between datasources name provisioned uids too.
    text = (GRAFANA / "provisioning" / "datasources" / "datasources.yaml").read_text()
    config = yaml.safe_load(text)
    for source in config["datasources"]:
        data = source.get("jsonData", {})
        links = [d["datasourceUid"] for d in data.get("derivedFields", [])]
        links += [d["datasourceUid"] for d in data.get("exemplarTraceIdDestinations", [])]
        links += [
            v["datasourceUid"]
            for k, v in data.items()
            if isinstance(v, dict) and "datasourceUid" in v
        ]
        assert set(links) <= set(provisioned), (source["uid"], links)


def test_every_promql_metric_exists_in_our_code():
    known = known_metric_names()
    unknown, used = [], set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        expressions = [
            (panel["title"], target["expr"])
            for panel in _panels(board)
            for target in panel.get("targets", [])
            if panel["datasource"]["type"] == "prometheus"
        ]
        expressions += [
            ("variable " + v["name"], v["query"]["query"]) for v in board["templating"]["list"]
        ]
        for title, expr in expressions:
            # label_values(<selector>, <label>): only the selector is PromQL.
            expr = re.sub(r"label_values\((.*),\s*\w+\)$", r"\1", expr)
            names = promql_metric_names(expr)
            assert names, (path.name, title, expr)
            used |= names
            unknown += [(path.name, title, name) for name in names if name not in known]
    assert not unknown, unknown
    # Each component's own metrics appear on some dashboard.
    for prefix in (
        "paneas_gateway_",
        "paneas_asr_",
        "paneas_llm_",
        "paneas_ocr_",
        "paneas_tts_",
        "paneas_jobs_",
        "grpc_server_",
        "DCGM_FI_DEV_",
        "envoy_",
    ):
        assert any(name.startswith(prefix) for name in used), prefix


def test_committed_json_matches_the_generator():
    spec = importlib.util.spec_from_file_location(
        "build_dashboards", GRAFANA / "build_dashboards.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, board in module.DASHBOARDS.items():
        path = GRAFANA / "dashboards" / f"paneas-{name}.json"
        assert path.read_text() == module.render(board), (
            f"{path.name} is stale: run .venv/bin/python deploy/grafana/build_dashboards.py"
        )
