"""``lightmesh up`` end to end: instances with sidecars, discovery, restarts, scaling, clean shutdown."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from tests.support.up import UpProcess, http_get, metric, pid_alive, wait_for

PY = sys.executable
HELLO = f"{PY} -m lightmesh.demo.sample_app --port {{port}}"


def mesh(*services: str) -> str:
    return "services:\n" + "".join(services)


def service(name: str, command: str = HELLO, replicas: int = 1, port: int = 80) -> str:
    return f"  - name: {name}\n    port: {port}\n    replicas: {replicas}\n    command: {command}\n"


def start(tmp_path: Path, text: str, *args: str) -> UpProcess:
    (tmp_path / "mesh.yaml").write_text(text)
    return UpProcess(tmp_path, "up", "-f", "mesh.yaml", *args).start()


def port_free(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not a listener
        try:
            s.bind((host, int(port)))
        except OSError:
            return False
    return True


def test_up_runs_every_instance_behind_its_sidecar_and_discovery_balances_over_them(tmp_path: Path) -> None:
    up = start(tmp_path, mesh(service("hello", replicas=2), service("caller")))
    try:
        state = up.wait_ready(3)
        assert state["api_addr"].startswith("127.0.0.1:")  # 8085, or a free port when that is taken
        assert {i["pod"] for i in state["instances"]} == {"hello-0", "hello-1", "caller-0"}
        caller = up.instances("caller")[0]
        assert caller["identity"] == "caller.default.serviceaccount.identity.lightmesh.cluster.local"
        for name in ("hello", "hello.default", "hello.default.svc.cluster.local"):
            status, body = http_get(f"http://{name}/hello", proxy=caller["outbound_addr"])
            assert (status, body) == (200, b"hello from the lightmesh sample app\n")
        # the state file turns ready up to one poll (0.1 s) before the table is printed
        wait_for("the ready table", lambda: "Ctrl-C stops everything" in up.log(), log=up.log)
        assert "hello-0" in up.log()
        registry = Path(state["registry_file"]).read_text()
        assert all(i["address"] in registry for i in up.instances("hello"))
        # the sidecars hold certificates from up's identity service and talk mTLS to each other
        secured = sum(metric(i["admin_addr"], "request_total", direction="inbound", tls="true")
                      for i in up.instances("hello"))  # fmt: skip
        assert secured >= 3
        assert Path(state["trust_anchors"]).is_file()
    finally:
        assert up.stop() == 0
    final = up.log()
    assert "stopped" in final
    assert not (up.state_dir / "up.json").exists() and not (up.state_dir / "up.sock").exists()
    assert not (up.state_dir / "identity").exists() and not (up.state_dir / "proxy-tokens").exists()
    assert up.seen_pids and not [pid for pid in up.seen_pids if pid_alive(pid)]
    for inst in state["instances"]:
        assert port_free(inst["admin_addr"]) and port_free(inst["address"])


def test_sigterm_stops_everything_like_ctrl_c(tmp_path: Path) -> None:
    up = start(tmp_path, mesh(service("hello")))
    up.wait_ready(1)
    import signal

    assert up.stop(signal.SIGTERM) == 0
    assert not [pid for pid in up.seen_pids if pid_alive(pid)]


def test_a_crashed_app_is_restarted_and_reported(tmp_path: Path) -> None:
    flag = tmp_path / "crashed-once"
    script = tmp_path / "crash_once.py"
    script.write_text(
        "import os, sys, runpy\n"
        f"flag = {str(flag)!r}\n"
        "if not os.path.exists(flag):\n"
        "    open(flag, 'w').close()\n"
        "    sys.exit(3)\n"
        "sys.argv = ['sample_app', '--port', os.environ['PORT']]\n"
        "runpy.run_module('lightmesh.demo.sample_app', run_name='__main__')\n"
    )
    up = start(tmp_path, mesh(service("flaky", command=f"{PY} {script}")))
    try:
        up.wait_ready(1)
        wait_for("the restart in the state", lambda: up.instances("flaky")[0]["restarts"] == 1, log=up.log)
        assert "flaky-0 (flaky.default) app exited with code 3" in up.log()
    finally:
        up.stop()


def test_a_crash_loop_is_reported_with_the_end_of_the_log(tmp_path: Path) -> None:
    command = f"{PY} -c \"import sys; print('cannot open the database'); sys.exit(1)\""
    up = start(tmp_path, mesh(service("broken", command=command)), "--ready-timeout", "1")
    try:
        wait_for("a crash loop report", lambda: "crash-looping" in up.log(), log=up.log)
        assert "broken-0 (broken.default) app is crash-looping: exited with code 1" in up.log()
        assert "cannot open the database" in up.log()
        assert "the app is not running" in up.log() or "does not listen" in up.log()
    finally:
        up.stop()


def test_scale_changes_the_instances_and_discovery_live(tmp_path: Path) -> None:
    up = start(tmp_path, mesh(service("hello"), service("caller")))
    try:
        up.wait_ready(2)
        scale = UpProcess(tmp_path, "scale", "hello", "3", env={"LIGHTMESH_STATE_DIR": str(up.state_dir)})
        assert scale.start().wait() == 0, scale.log()
        assert "hello.default scaled to 3" in scale.log()
        state = up.wait_ready(4)
        registry = Path(state["registry_file"]).read_text()
        assert sum(i["address"] in registry for i in up.instances("hello")) == 3
        down = UpProcess(tmp_path, "scale", "hello", "0", env={"LIGHTMESH_STATE_DIR": str(up.state_dir)})
        assert down.start().wait() == 0
        up.wait_ready(1)
        caller = up.instances("caller")[0]
        status, body = http_get("http://hello/", proxy=caller["outbound_addr"])
        assert status == 503, body
    finally:
        up.stop()
    assert not [pid for pid in up.seen_pids if pid_alive(pid)]


def test_scale_names_an_unknown_service_and_needs_a_running_up(tmp_path: Path) -> None:
    alone = UpProcess(tmp_path, "scale", "hello", "2")
    assert alone.start().wait() == 1
    assert "no lightmesh up is running" in alone.log()
    up = start(tmp_path, mesh(service("hello")))
    try:
        up.wait_ready(1)
        bad = UpProcess(tmp_path, "scale", "nope", "2", env={"LIGHTMESH_STATE_DIR": str(up.state_dir)})
        assert bad.start().wait() == 1
        assert "service 'nope' is not in the mesh file (services: hello.default)" in bad.log()
    finally:
        up.stop()


def test_editing_the_mesh_file_applies_it_and_a_bad_edit_is_reported_and_ignored(tmp_path: Path) -> None:
    up = start(tmp_path, mesh(service("hello")))
    try:
        up.wait_ready(1)
        [first] = up.instances("hello")
        (tmp_path / "mesh.yaml").write_text(mesh(service("hello", replicas=2)) + "  - nme: x\n")
        wait_for("the bad edit reported", lambda: "unknown key" in up.log(), log=up.log)
        assert "mesh.yaml:6: services[1].nme: unknown key (a typo?)" in up.log()
        (tmp_path / "mesh.yaml").write_text(mesh(service("hello", replicas=2), service("other")))
        up.wait_ready(3)
        kept = next(i for i in up.instances("hello") if i["pod"] == "hello-0")
        assert (kept["app_pid"], kept["proxy_pid"]) == (first["app_pid"], first["proxy_pid"])  # only scaled
    finally:
        up.stop()


def test_a_bad_mesh_file_gets_line_numbered_errors_and_exit_code_2(tmp_path: Path) -> None:
    text = "services:\n  - name: Web\n    port: 70000\n    command: no-such-command-lm --x\n"
    up = start(tmp_path, text)
    assert up.wait() == 2
    log = up.log()
    assert "mesh.yaml:2: services[0].name: invalid service name 'Web'" in log
    assert "mesh.yaml:3: services[0].port: port 70000 out of range 1-65535" in log
    assert "mesh.yaml:4: services[0].command: command not found: 'no-such-command-lm'" in log
    assert not (up.state_dir / "up.json").exists()


def test_a_port_in_use_is_reported(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = f"127.0.0.1:{busy.getsockname()[1]}"
        up = start(tmp_path, mesh(service("hello")), "--proxy-api-addr", addr)
        assert up.wait() == 1
    assert f"address already in use: {addr} (--proxy-api-addr)" in up.log()


def test_a_second_up_with_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    up = start(tmp_path, mesh(service("hello")))
    try:
        up.wait_ready(1)
        second = UpProcess(tmp_path, "up", "-f", "mesh.yaml", env={"LIGHTMESH_STATE_DIR": str(up.state_dir)})
        assert second.start().wait() == 1
        assert "lightmesh up is already running" in second.log()
    finally:
        up.stop()


def test_if_up_is_killed_its_processes_die_with_it_and_the_next_up_takes_over(tmp_path: Path) -> None:
    up = start(tmp_path, mesh(service("hello")))
    up.wait_ready(1)
    assert up.proc is not None
    up.proc.kill()
    up.proc.wait()
    wait_for("the children to die", lambda: not [pid for pid in up.seen_pids if pid_alive(pid)], log=up.log)
    assert (up.state_dir / "up.json").exists()  # stale: its pid is gone
    again = UpProcess(tmp_path, "up", "-f", "mesh.yaml", env={"LIGHTMESH_STATE_DIR": str(up.state_dir)})
    again.start()
    try:
        again.wait_ready(1)
    finally:
        assert again.stop() == 0


def test_a_grpc_client_reaches_a_service_through_its_sidecar_by_authority(tmp_path: Path) -> None:
    import grpc

    from lightmesh.api.gen import emojivoto_pb2 as pb

    emoji = f"{PY} -m lightmesh.demo.emoji --port {{port}}"
    up = start(tmp_path, mesh(service("emoji", command=emoji, port=8080, replicas=2), service("caller")))
    try:
        up.wait_ready(3)
        outbound = up.instances("caller")[0]["outbound_addr"]
        options = [("grpc.default_authority", "emoji:8080"), ("grpc.enable_http_proxy", 0)]
        with grpc.insecure_channel(outbound, options=options) as channel:
            list_all = channel.unary_unary(
                "/emojivoto.v1.EmojiService/ListAll",
                request_serializer=pb.ListAllEmojiRequest.SerializeToString,
                response_deserializer=pb.ListAllEmojiResponse.FromString,
            )
            for _ in range(10):
                reply = list_all(pb.ListAllEmojiRequest(), timeout=10)
                assert ":joy:" in {e.shortcode for e in reply.list}
        served = [
            metric(i["admin_addr"], "request_total", direction="inbound") for i in up.instances("emoji")
        ]
        assert sum(served) == 10
    finally:
        up.stop()


def test_a_scale_holds_until_the_file_changes_that_services_replicas(tmp_path: Path) -> None:
    up = start(tmp_path, mesh(service("hello")))
    try:
        up.wait_ready(1)
        scale = UpProcess(tmp_path, "scale", "hello", "2", env={"LIGHTMESH_STATE_DIR": str(up.state_dir)})
        assert scale.start().wait() == 0, scale.log()
        up.wait_ready(2)
        (tmp_path / "mesh.yaml").write_text(mesh(service("hello"), service("other")))  # hello still says 1
        state = up.wait_ready(3)
        assert [s["replicas"] for s in state["services"]] == [2, 1]
        (tmp_path / "mesh.yaml").write_text(mesh(service("hello", replicas=3), service("other")))
        state = up.wait_ready(4)
        assert [s["replicas"] for s in state["services"]] == [3, 1]
    finally:
        up.stop()
