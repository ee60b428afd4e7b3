"""The name list every other check relies on is itself right."""

from tests.deploy.support import defined_metrics, known_metric_names, promql_metric_names


def test_metric_names_come_from_every_component():
    families = defined_metrics()
    for prefix in ("paneas_gateway_", "paneas_asr_", "paneas_llm_", "paneas_ocr_", "paneas_tts_"):
        assert any(name.startswith(prefix) for name in families), prefix
    assert families["grpc_server_handling_seconds"] == "Histogram"
    assert families["paneas_asr_queue_depth"] == "Gauge"
    known = known_metric_names()
    assert "paneas_asr_real_time_factor_bucket" in known
    assert "paneas_llm_generation_tokens_total" in known
    assert "paneas_asr_real_time_factor" not in known  # a histogram has no bare series


def test_promql_names_are_extracted():
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(paneas_gateway_http_request_"
        'duration_seconds_bucket{route!~"/metrics|up"}[$__rate_interval]))) / on (job) '
        "group_left up > bool 1 and DCGM_FI_DEV_FB_USED offset 5m"
    )
    assert promql_metric_names(expr) == {
        "paneas_gateway_http_request_duration_seconds_bucket",
        "up",
        "DCGM_FI_DEV_FB_USED",
    }
    assert promql_metric_names("paneas:asr_real_time_factor:avg5m > 1") == {
        "paneas:asr_real_time_factor:avg5m"
    }
