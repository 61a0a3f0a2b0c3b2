"""Parse ferry's metrics exposition with the Prometheus Python client's
text parser and check the families, types, labels and a few values.

Usage: check_metrics.py METRICS_SAMPLE_PROGRAM
Exit 0 when the text parses and matches, 1 when not, 77 (skipped) when the
parser is not installed (Debian: python3-prometheus-client)."""
import subprocess
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("prometheus_client not installed: skipped")
    sys.exit(77)


def main():
    text = subprocess.run([sys.argv[1]], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    # The client names a counter family without its _total suffix, so the
    # gauge ferry_sessions and the counter ferry_sessions_total both come
    # back as "ferry_sessions": key families by (name, type).
    fams = {(f.name, f.type): f for f in text_string_to_metric_families(text)}
    want = [
        ("ferry_sessions", "gauge"),
        ("ferry_sessions", "counter"),
        ("ferry_logins_failed", "counter"),
        ("ferry_bytes_in", "counter"),
        ("ferry_bytes_out", "counter"),
        ("ferry_transfers", "counter"),
        ("ferry_command_duration_seconds", "histogram"),
        ("ferry_worker_loop_iterations", "counter"),
    ]
    for key in want:
        assert key in fams, f"family {key} missing: {sorted(fams)}"
        assert fams[key].documentation, f"{key}: no HELP"
    assert len(fams) == len(want), f"unexpected families: {sorted(fams)}"

    def value(key, sample, **labels):
        for s in fams[key].samples:
            if s.name == sample and s.labels == labels:
                return s.value
        raise AssertionError(f"no sample {sample}{labels}")

    assert value(("ferry_sessions", "gauge"), "ferry_sessions") == 2
    assert value(("ferry_sessions", "counter"), "ferry_sessions_total") == 3
    assert value(("ferry_bytes_out", "counter"), "ferry_bytes_out_total") == 1 << 20
    tr = ("ferry_transfers", "counter")
    assert value(tr, "ferry_transfers_total", result="failed", kind="stor") == 1
    kinds = {(s.labels["result"], s.labels["kind"]) for s in fams[tr].samples}
    assert len(kinds) == 9, kinds
    h = "ferry_command_duration_seconds"
    hk = (h, "histogram")
    assert value(hk, h + "_count") == 20
    assert value(hk, h + "_bucket", le="+Inf") == 20
    counts = [s.value for s in fams[hk].samples if s.name == h + "_bucket"]
    assert len(counts) == 17, counts
    assert counts == sorted(counts), "buckets not cumulative"
    assert value(hk, h + "_bucket", le="0.0001") == 2     # 50 and 100 us
    workers = {s.labels["worker"]: s.value
               for s in fams[("ferry_worker_loop_iterations", "counter")].samples}
    assert workers == {"0": 1, "1": 1, "2": 1}, workers
    print(f"ok: {len(fams)} families parsed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}")
        sys.exit(1)
