"""Coffer's Prometheus metrics, read from their own listener (`coffer serve --metrics-listen`,
which tests/sdk/run_python.sh turns on) and parsed by the Prometheus client's strict
OpenMetrics parser after the official SDK made a few calls.
"""

import os

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.secrets import SecretClient
from prometheus_client.openmetrics.parser import text_string_to_metric_families


@pytest.fixture(scope="module")
def metrics_url():
    url = os.environ.get("COFFER_METRICS_URL")
    if not url:
        pytest.skip("COFFER_METRICS_URL is not set (run through tests/sdk/run_python.sh)")
    return url


def _scrape(url):
    r = requests.get(url, timeout=30, proxies={"http": None, "https": None})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/openmetrics-text"), r.headers
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def test_metrics_count_requests_latency_and_tokens(metrics_url, contract, credential):
    with SecretClient(contract.vault_url, credential) as client:
        client.set_secret("metrics-probe", "v")
        client.get_secret("metrics-probe")
        with pytest.raises(ResourceNotFoundError):
            client.get_secret("metrics-probe-missing")

    families = _scrape(metrics_url)
    requests_family = families["coffer_http_requests"]
    assert requests_family.type == "counter"
    by_labels = {
        (s.labels["role"], s.labels["vault"], s.labels["operation"], s.labels["status"]): s.value
        for s in requests_family.samples
        if s.name == "coffer_http_requests_total"
    }
    assert by_labels.get(("vault", "dev", "SecretGet", "200"), 0) >= 1, by_labels
    assert by_labels.get(("vault", "dev", "SecretGet", "404"), 0) >= 1, by_labels
    assert by_labels.get(("vault", "dev", "SecretSet", "200"), 0) >= 1, by_labels

    latency = families["coffer_http_request_duration_seconds"]
    assert latency.type == "histogram"
    counts = [s for s in latency.samples if s.name.endswith("_count")
              and s.labels == {"role": "vault", "operation": "SecretGet"}]
    assert counts and counts[0].value >= 2, latency.samples[:5]

    tokens = families["coffer_token_requests"]
    issued = [s for s in tokens.samples if s.name == "coffer_token_requests_total"
              and s.labels == {"grant": "client_credentials", "outcome": "issued"}]
    assert issued and issued[0].value >= 1, tokens.samples

    # The database's own latency, under the read cache: the secret set above was a write.
    store = families["coffer_store_operation_duration_seconds"]
    assert store.type == "histogram"
    writes = [s for s in store.samples if s.name.endswith("_count")
              and s.labels == {"operation": "append_version", "outcome": "ok"}]
    assert writes and writes[0].value >= 1, store.samples[:8]

    # Throttled requests by limit: test_throttling.py checks them once it has some.
    assert "coffer_audit_records_dropped" in families

    # Not on the public port.
    r = requests.get(f"{contract.vault_url}/metrics", verify=contract.ca_cert, timeout=30)
    assert r.status_code != 200 or "coffer_http_requests" not in r.text
