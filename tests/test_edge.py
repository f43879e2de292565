"""The edge service over MQTT: a Mosquitto of the test's own on a free loopback port,
`serve` in a thread or as processes, and the simulated devices."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from semanticnn import frame
from semanticnn.cli import main
from semanticnn.edge.broker import Mosquitto, free_port
from semanticnn.edge.mqtt import UP, connect
from semanticnn.edge.service import EdgeService, Metrics, Uplink, run_service
from semanticnn.edge.simulate import Fleet, simulate
from semanticnn.link import BSC
from semanticnn.train import load_run

CLEAN = (BSC(0.0),)


@pytest.fixture(scope="module")
def served_run(tmp_path_factory: pytest.TempPathFactory, run_dir: Path) -> Path:
    """The tiny run with its exported encoder (what the devices run)."""
    out = tmp_path_factory.mktemp("edge") / "run"
    shutil.copytree(run_dir, out)
    res = CliRunner().invoke(main, ["export", str(out)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def fleet(served_run: Path) -> Fleet:
    return Fleet.from_run(served_run)


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as b:
        yield b


class Service:
    """`run_service` in a thread of this process."""

    def __init__(self, run: Path, broker: str, metrics: Metrics | None = None) -> None:
        self.service = EdgeService({0: load_run(run).aware}, metrics)
        self.stop = threading.Event()
        ready = threading.Event()
        self.thread = threading.Thread(
            target=run_service,
            args=(self.service, broker),
            kwargs=dict(
                group="test",
                client_id=f"svc-{time.monotonic_ns()}",
                max_batch=32,
                max_wait_ms=2.0,
                stop=self.stop,
                on_ready=ready.set,
            ),
        )
        self.thread.start()
        assert ready.wait(10)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def _wires(fleet: Fleet, n: int, model_id: int = 0) -> list[bytes]:
    return [
        frame.encode(fleet.symbols[i % len(fleet.symbols)], fleet.nbits, model_id=model_id,
                     seq=i, gray=fleet.gray, mapped=True)
        for i in range(n)
    ]  # fmt: skip


def test_decode_answers_good_frames_once_and_counts_the_rest(
    served_run: Path, fleet: Fleet
) -> None:
    service = EdgeService({0: load_run(served_run).aware})
    good = _wires(fleet, 4)
    now = time.monotonic()
    batch = [
        *(Uplink("a", w, now) for w in good),
        Uplink("a", good[0], now),  # the same (device, seq) again
        Uplink("b", b"\x00" * 7, now),
        Uplink("b", good[1][:-3], now),
        Uplink("b", _wires(fleet, 1, model_id=9)[0], now),
        Uplink(None, good[2], now),
    ]
    results = service.decode(batch)
    assert [r is not None for r in results] == [True] * 4 + [False] * 5
    assert [r.seq for r in results[:4] if r] == [0, 1, 2, 3]
    assert all(0 <= r.label < 4 and 0 < r.confidence <= 1 for r in results if r)
    lost = dict(service.counts.lost)
    assert lost == {
        ("a", "duplicate"): 1,
        ("b", "malformed"): 2,
        ("b", "unknown_model"): 1,
        ("?", "bad_topic"): 1,
    }
    # The offline decoder's classes: what the service answers.
    rerun = EdgeService({0: load_run(served_run).aware}).decode([Uplink("a", w, now) for w in good])
    assert [r.label for r in rerun if r] == [r.label for r in results[:4] if r]


def test_devices_get_one_answer_per_frame_and_bad_payloads_are_counted(
    served_run: Path, fleet: Fleet, broker: Mosquitto
) -> None:
    metrics_port = free_port()
    metrics = Metrics()
    metrics.serve_http(metrics_port)
    svc = Service(served_run, broker.url, metrics)
    try:
        junk = connect(broker.url, "junk")
        bad = [b"", b"\xff" * 40, _wires(fleet, 1)[0][:10], _wires(fleet, 1, model_id=7)[0]]
        mids = [junk.publish(UP.format(device="junk"), p) for p in bad]
        assert all(junk.wait_acked(mids, 10))
        junk.close()
        report = simulate(fleet, broker.url, devices=10, rate=400, frames=200, links=CLEAN)
    finally:
        svc.close()
    assert (report.answered, report.duplicates) == (200, 0)
    assert 0 <= report.accuracy <= 1 and report.percentile_ms(99) < 5000
    lost = svc.service.counts.lost
    assert lost[("junk", "malformed")] == 3 and lost[("junk", "unknown_model")] == 1
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
    assert "snn_frames_in_total 204.0" in text
    assert 'snn_frames_lost_total{device="junk",reason="malformed"} 3.0' in text
    assert 'snn_device_ber_estimate{device="dev00000"}' in text
    assert "snn_batch_size_count" in text and "snn_latency_seconds_bucket" in text


def test_a_broker_restart_loses_no_frame_and_answers_each_once(
    served_run: Path, fleet: Fleet, broker: Mosquitto
) -> None:
    svc = Service(served_run, broker.url)

    def restart_midway(i: int) -> None:
        if i == 150:
            broker.restart()

    try:
        report = simulate(
            fleet, broker.url, devices=5, rate=200, frames=300, links=CLEAN,
            during=restart_midway, settle_s=30,
        )  # fmt: skip
    finally:
        svc.close()
    assert (report.answered, report.duplicates) == (300, 0)


def _serve(run: Path, broker: str, group: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "semanticnn.cli", "serve", str(run), "--broker", broker,
           "--group", group, "--threads", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("serving "), line + proc.stderr.read()
    return proc


def test_two_processes_split_the_frames_and_stop_cleanly_on_sigterm(
    served_run: Path, fleet: Fleet, broker: Mosquitto
) -> None:
    procs = [_serve(served_run, broker.url, "pair") for _ in range(2)]
    try:
        report = simulate(fleet, broker.url, devices=20, rate=300, frames=400, links=CLEAN)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
    answered = []
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        answered.append(int(err.split("stopped: ")[1].split()[0]))
    assert (report.answered, report.duplicates) == (400, 0)
    assert sum(answered) == 400 and min(answered) > 0, answered


def test_noisy_devices_are_answered_with_their_ber(
    served_run: Path, fleet: Fleet, broker: Mosquitto
) -> None:
    svc = Service(served_run, broker.url)
    try:
        report = simulate(fleet, broker.url, devices=8, rate=400, frames=160)
    finally:
        svc.close()
    # Clean, BSC 1e-3 and 1e-2 and Gilbert-Elliott links in turn: nearly all headers
    # survive (the rest are counted, not answered).
    assert report.duplicates == 0 and report.answered >= 150
    links = svc.service.links
    assert links["dev00002"].value > links["dev00000"].value


def test_bad_service_input_is_one_line(served_run: Path, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    runner = CliRunner()
    res = runner.invoke(main, ["serve", str(served_run), "--broker", f"mqtt://127.0.0.1:{port}"])
    assert res.exit_code == 1 and "cannot reach the broker" in res.output, res.output
    res = runner.invoke(main, ["serve", str(tmp_path), "--broker", f"mqtt://127.0.0.1:{port}"])
    assert res.exit_code == 1 and "no finished run" in res.output, res.output
    res = runner.invoke(main, ["serve", str(served_run), f"0={served_run}"])
    assert res.exit_code == 2 and "two runs with model id 0" in res.output, res.output
    res = runner.invoke(main, ["serve", str(served_run), "--broker", "http://x"])
    assert res.exit_code == 1 and "expected mqtt://HOST[:PORT]" in res.output, res.output
    res = runner.invoke(main, ["devices", "simulate", str(tmp_path)])
    assert res.exit_code == 1 and "export the run first" in res.output, res.output


def test_bench_serve_reports_raw_and_end_to_end_rates(served_run: Path) -> None:
    from semanticnn.bench.serve import format_lines, run_bench

    r = run_bench(served_run, devices=20, seconds=0.5)
    assert r["raw_frames_per_s"] > 0 and r["rates"]
    assert 0 <= r["sustained_frames_per_s"] <= r["raw_frames_per_s"]
    restarted = r["across_restart"]
    assert restarted["answered"] == restarted["sent"] and restarted["duplicates"] == 0
    assert {t["name"] for t in r["targets"]} == {
        "end to end vs raw decoder",
        "p99 latency at half rate (ms)",
        "frames lost (QoS 1, one broker restart)",
    }
    assert any("sustained" in line for line in format_lines(r))


def test_the_gateway_forwards_a_boards_frames_to_the_service(
    served_run: Path, fleet: Fleet, broker: Mosquitto
) -> None:
    from semanticnn.edge.gateway import forward
    from semanticnn.edge.mqtt import RESULT_FILTER
    from semanticnn.firmware.receive import read_frames

    class Board:
        """A board's UART: one FRAME record per line, then DONE."""

        def __init__(self, wires: list[bytes]) -> None:
            self.lines = [f"FRAME seq={i} hex={w.hex()}\n".encode() for i, w in enumerate(wires)]
            self.lines.append(b"DONE\n")

        def readline(self) -> bytes:
            return self.lines.pop(0) if self.lines else b""

    results: list[bytes] = []
    listener = connect(broker.url, "listener", subscribe=(RESULT_FILTER,),
                       on_message=lambda m: results.append(bytes(m.payload)))  # fmt: skip
    svc = Service(served_run, broker.url)
    try:
        time.sleep(0.2)
        assert forward(read_frames(Board(_wires(fleet, 12)), timeout=5), broker.url, "board1") == 12
        deadline = time.monotonic() + 20
        while len(results) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        svc.close()
        listener.close()
    assert len(results) == 12 and svc.service.counts.decoded["board1"] == 12
