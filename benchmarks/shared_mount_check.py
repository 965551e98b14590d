"""Two nodes, one shared folder over a network filesystem: do runs, claims and cache entries hold up?

    python benchmarks/shared_mount_check.py        # as root (namespaces, FUSE); needs sshd, sshfs, unshare

On one machine the second node is as real as the harness can tell: its processes have their own hostname (a
UTS namespace) and see the shared folder at the same path through sshfs (SFTP to an sshd on loopback, in a
mount namespace of their own), as a cluster's nodes see NFS; node A uses the folder on local disk. Both are
`python -m harness` from this checkout.

1. Both nodes start the same learning-rate sweep at once into the shared results and cache folders: every
   run trains once (on either node), every cache entry is built once, both commands report all runs, no claim
   or lock is left, and `load_table` reads one table from either side.
2. Node B dies (SIGKILL to all its processes) while it trains a run: that run's claim, held by host `nodeb`,
   is no longer touched. Node A's sweep trains the rest, waits for the claim to go stale (60 s untouched:
   another host's owner cannot be asked) and reports the run unfinished; the next invocation takes the claim
   over and trains it, with one set of TensorBoard events.

Prints each check and writes JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.reports.tables import load_table  # noqa: E402

NODE_B = "nodeb"
RUN = ["experiment=quickstart", "sweep=learning_rate", "data.image_size=32", "train.batch_size=8", "train.verbose=0"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    """An sshd on loopback that lets root in with a key made for it; stopped on exit."""

    def __init__(self, work: Path):
        self.dir, self.port = work / "sshd", _free_port()
        self.dir.mkdir()
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / name)], check=True)
        shutil.copy(self.dir / "client_key.pub", self.dir / "authorized_keys")
        (self.dir / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.dir / 'host_key'}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            f"PasswordAuthentication no\nStrictModes no\nUsePAM no\nPidFile {self.dir / 'sshd.pid'}\n"
            "Subsystem sftp internal-sftp\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)
        subprocess.run(
            ["/usr/sbin/sshd", "-f", str(self.dir / "sshd_config"), "-E", str(self.dir / "sshd.log")], check=True
        )

    def mount_command(self, folder: Path) -> str:
        options = f"IdentityFile={self.dir / 'client_key'},StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null"
        return f"sshfs root@127.0.0.1:{folder} {folder} -p {self.port} -o {options}"

    def stop(self) -> None:
        pid_file = self.dir / "sshd.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def harness_command(args: list[str]) -> str:
    return " ".join([sys.executable, "-m", "harness", *(f"'{a}'" for a in args)])


def start_node_a(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        env=ENV,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_node_b(sshd: Sshd, shared: Path, args: list[str], log: Path) -> subprocess.Popen:
    """The command on node B: its own hostname, the shared folder over sshfs at the same path."""
    script = (
        f"set -e; hostname {NODE_B}; {sshd.mount_command(shared)}; set +e; "
        f"{harness_command(args)}; rc=$?; fusermount -u {shared}; exit $rc"
    )
    return subprocess.Popen(
        ["unshare", "--mount", "--uts", "--fork", "bash", "-c", script],
        cwd=ROOT,
        env=ENV,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def records(results: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in results.rglob("record.json")}


def check(results: dict, name: str, ok: bool, detail: str = "") -> None:
    results["checks"].append({"check": name, "ok": bool(ok), "detail": detail})
    print(f"{'ok ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)


def written(out: dict, path: Path) -> int:
    """A check script's end: its JSON written, a line of how many checks passed, exit status 1 if any failed."""
    path.write_text(json.dumps(out, indent=2) + "\n")
    failed = [c["check"] for c in out["checks"] if not c["ok"]]
    print(f"{len(out['checks']) - len(failed)} of {len(out['checks'])} checks passed; JSON in {path}")
    return 1 if failed else 0


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for pattern in (".claim", "*.building") for p in folder.rglob(pattern))


def together_args(shared: Path) -> list[str]:
    """Four short runs, started by both nodes at once."""
    return [
        *RUN,
        "sweep.values=[0.1,0.01,0.001,0.0001]",
        "train.epochs=2",
        "train.steps_per_epoch=40",
        f"results_dir={shared / 'together'}",
        f"cache_dir={shared / 'cache'}",
    ]


def node_dies_args(shared: Path) -> list[str]:
    """Two runs long enough (about half a minute each) for node B to die in the middle of one."""
    return [
        *RUN,
        "sweep.values=[0.01,0.001]",
        "train.epochs=20",
        "train.steps_per_epoch=40",
        f"results_dir={shared / 'died'}",
        f"cache_dir={shared / 'cache'}",
    ]


def phase_together(sshd: Sshd, shared: Path, work: Path, out: dict) -> None:
    args = together_args(shared)
    started = time.perf_counter()
    a = start_node_a(args, work / "together_a.log")
    b = start_node_b(sshd, shared, args, work / "together_b.log")
    codes = a.wait(timeout=900), b.wait(timeout=900)
    seconds = time.perf_counter() - started
    logs = (work / "together_a.log").read_text() + (work / "together_b.log").read_text()
    found = records(shared / "together")
    hosts = sorted(r["host"]["hostname"] for r in found.values())
    images = sorted(r["cache"]["images"]["train"] for r in found.values())
    out["together"] = {"seconds": seconds, "exit_codes": codes, "hosts": hosts, "images_cache": images}
    check(out, "both commands exit 0", codes == (0, 0), str(codes))
    check(
        out,
        "4 runs, each completed once",
        len(found) == 4
        and {r["status"] for r in found.values()} == {"completed"}
        and logs.count("completed: best val accuracy") == 4,
        f"trained on {hosts}",
    )
    check(out, "both nodes trained runs", set(hosts) == {socket.gethostname(), NODE_B}, str(hosts))
    check(out, "the image cache built once, hit by the others", images == ["built", "hit", "hit", "hit"], str(images))
    check(out, "both commands report all 4 runs", logs.count("4 runs, all completed") == 2)
    check(out, "no claim or lock left", not leftovers(shared), str(leftovers(shared)))
    check(out, "one table from node A's side", len(load_table(shared / "together")) == 4)


def _wait_for_running(results: Path, host: str, deadline: float) -> dict | None:
    while time.time() < deadline:
        running = [r for r in records(results).values() if r["status"] == "running" and r["host"]["hostname"] == host]
        if running:
            return running[0]
        time.sleep(0.5)
    return None


def phase_node_dies(sshd: Sshd, shared: Path, work: Path, out: dict) -> None:
    results, args = shared / "died", node_dies_args(shared)
    b = start_node_b(sshd, shared, args, work / "died_b.log")
    victim = _wait_for_running(results, NODE_B, time.time() + 300)
    if victim is None:
        b.kill()
        check(out, "node B started a run", False)
        return
    os.killpg(b.pid, signal.SIGKILL)  # the node dies: its command, its worker, everything
    b.wait()
    subprocess.run(["pkill", "-f", f"sshfs root@127.0.0.1:{shared}"])
    died_at = time.perf_counter()
    claim = json.loads((results / victim["name"] / victim["run_name"] / ".claim").read_text())
    check(out, "node B's claim is left behind, held by host nodeb", claim["host"] == NODE_B, str(claim))

    first = subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=ENV, capture_output=True, text=True)
    waited = time.perf_counter() - died_at
    victim_after = records(results)[victim["run_name"]]
    check(
        out,
        "node A does not train the dead node's run while its claim is fresh, then reports it unfinished",
        victim_after["status"] == "running" and first.returncode == 1 and "did not complete" in first.stdout,
        f"exit {first.returncode}, {waited:.0f} s after the death",
    )
    second = subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=ENV, capture_output=True, text=True)
    final = records(results)
    run_dir = results / victim["name"] / victim["run_name"]
    events = sorted(p.name for p in (run_dir / "tb" / "train").glob("events.out.tfevents.*"))
    check(
        out,
        "the next invocation takes the stale claim over and trains the run once",
        second.returncode == 0
        and final[victim["run_name"]]["status"] == "completed"
        and final[victim["run_name"]]["host"]["hostname"] == socket.gethostname()
        and second.stdout.count("completed: best val accuracy") + second.stderr.count("completed: best val accuracy")
        == 1,
        f"exit {second.returncode}",
    )
    check(out, "one set of TensorBoard events in the taken-over run", len(events) == 1, str(events))
    check(out, "no claim or lock left", not leftovers(results), str(leftovers(results)))
    out["node_dies"] = {
        "seconds_until_reported": waited,
        "first_exit": first.returncode,
        "second_exit": second.returncode,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--work-dir", help="where the shared folder, logs and keys go (default: a new temporary folder)"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "shared_mount_check.json"))
    args = parser.parse_args()
    if (
        os.geteuid() != 0
        or not all(shutil.which(t) for t in ("sshfs", "unshare", "ssh-keygen"))
        or not Path("/usr/sbin/sshd").exists()
    ):
        sys.exit(
            "needs root, sshfs, unshare, ssh-keygen and /usr/sbin/sshd (Debian: apt-get install sshfs openssh-server)"
        )
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="shared_mount_"))
    shared = work / "shared"
    shared.mkdir(parents=True)
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "work_dir": str(work), "checks": []}
    sshd = Sshd(work)
    try:
        phase_together(sshd, shared, work, out)
        phase_node_dies(sshd, shared, work, out)
    finally:
        sshd.stop()
    return written(out, Path(args.out))


if __name__ == "__main__":
    sys.exit(main())
