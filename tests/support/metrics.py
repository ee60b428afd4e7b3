"""Reading a service's Prometheus endpoint in tests."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def metric_value(url: str, sample_name: str, **labels: str) -> float:
    """The sum of the samples with these labels (labels not given are summed over; 0 when
    nothing has been exported yet)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and all(
                sample.labels.get(key) == value for key, value in labels.items()
            ):
                total += sample.value
    return total
