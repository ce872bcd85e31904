"""The Dask backend of a sweep: the same tasks as the local pool (imsim.sweep.tasks), submitted
to a running Dask scheduler.

`check_reachable` refuses a scheduler address with one line of error for a user mistake
(nothing listening, not a Dask scheduler); run_sweep calls it before it opens the output
folder, so `run_on_dask` does not repeat it. During a run, two diagnostics of the workers are
paused (`pause_profiler`) and restarted afterwards: the statistical profiler (the dashboard's
profile page) walks every computing thread's Python stack every 10 ms while holding the GIL,
and on imsim's deep simpy generator stacks that took 0.15-0.19 s of each worker's ~2.5 s in the
1,000-point benchmark sweep (Dask's own "profile-duration" count), 5-7 % of its CPU; the
event-loop "tick" (every 20 ms, it only logs an unresponsive loop) took another ~1.3 % of a
core on an idle worker. Nothing else about the workers changes.
"""
from __future__ import annotations

from typing import Any, Sequence

from imsim.errors import UserError, shown
from imsim.sweep.spec import Point
from imsim.sweep.tasks import MAX_CHUNK_POINTS, Evaluator, make_tasks, run_task

# A Dask task costs ~7 ms of CPU in the scheduler, client and worker together (63 empty tasks on
# a LocalCluster of 2: 0.45 s), against ~1 ms on the local pool, so Dask's tasks hold up to four
# times the pool's points (~0.3 s of work each in the benchmark sweep; Dask advises tasks of
# 100 ms or more). With 32 points a task, the 1,000-point benchmark sweep on 2 Dask workers ran
# at a median 0.87x the pool's throughput over 5 interleaved rounds; with 64, 0.97x (each round
# won by 64). The cap binds only on small clusters: a task still gets ~1/4 of a worker's share.
DASK_CHUNK_POINTS = 4 * MAX_CHUNK_POINTS
PAUSED_CALLBACKS = ("profile", "profile-cycle", "tick")  # distributed.Worker.periodic_callbacks keys


HANDSHAKE_S = 10.0  # a Dask scheduler greets a new connection at once


def _expect_handshake(sock: Any, address: str) -> None:
    """A Dask scheduler sends its handshake as soon as a connection is accepted; something
    else listening there (a web server, a stuck process) would leave the client waiting
    forever, so it is refused here with one line."""
    sock.settimeout(HANDSHAKE_S)
    try:
        first = sock.recv(1)
    except TimeoutError:
        raise UserError(f"--scheduler {address}: something listens there but sent no Dask handshake within "
                        f"{HANDSHAKE_S:g} s; is it a Dask scheduler (dask scheduler --port ...)?") from None
    if not first:
        raise UserError(f"--scheduler {address}: the connection was closed at once; is it a Dask scheduler?")


def check_reachable(address: str) -> None:
    """Fail fast, with one line, when nothing listens at a tcp:// scheduler address."""
    import socket
    from urllib.parse import urlsplit

    if "://" not in address:
        address = f"tcp://{address}"
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UserError(f"--scheduler {shown(address)}: not an address; expected tcp://HOST:PORT") from None
    if parts.scheme not in ("tcp", "tls"):
        return
    if not host or not port:
        raise UserError(f"--scheduler {shown(address)}: expected tcp://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            if parts.scheme == "tcp":  # (over TLS the client speaks first)
                _expect_handshake(sock, address)
    except OSError as exc:
        raise UserError(f"--scheduler {address}: cannot connect to a Dask scheduler ({exc.strerror or exc})") from None


def run_on_dask(points: Sequence[Point], address: str, evaluator: Evaluator, committer: Any) -> tuple[int, int]:
    """Run `points` as tasks on the Dask cluster at `address` (already `check_reachable`),
    committing each finished task through `committer`; returns (points computed, tasks)."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise UserError("--scheduler needs Dask: pip install 'imsim[dask]' (dask[distributed])") from None
    try:
        # not the default client: a user's own client (a notebook's) stays theirs
        client = Client(address, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserError(f"--scheduler {address}: cannot connect to a Dask scheduler ({exc})") from None
    n = 0
    paused: dict[str, list[str]] = {}
    try:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values())
        tasks = make_tasks(points, max(1, threads), max_points=DASK_CHUNK_POINTS)
        paused = client.run(pause_profiler)
        futures = client.map(run_task, [evaluator] * len(tasks), tasks, pure=False)  # one graph update
        # as_completed tracks futures on the default client's event loop unless told ours: with a
        # user's client the default, each sweep ran 0.7-1.4 s longer (benchmark sweep, ~3.5 s)
        for fut in as_completed(futures, loop=client.loop):
            # (as_completed(with_results=True) gathers every result concurrently, which tripped an
            # assertion in tornado's stream reads and then waited forever: results are fetched one by one)
            n += committer.add(fut.result())
            fut.release()
    finally:
        try:
            if any(paused.values()):  # one call; each worker restarts what it paused (a new one: nothing)
                client.run(resume_profiler, paused, on_error="ignore")
        except Exception:  # noqa: BLE001 (a worker lost during the call: nothing left to restart there)
            pass
        client.close()
    return n, len(tasks)


def pause_profiler(dask_worker: Any) -> list[str]:
    """Stop the statistical profiler and the event-loop tick of this Dask worker (run on the
    worker by Client.run); returns the names of the periodic callbacks it stopped (none if they
    were off already)."""
    stopped = []
    for name in PAUSED_CALLBACKS:
        callback = dask_worker.periodic_callbacks.get(name)
        if callback is not None and callback.is_running():
            callback.stop()
            stopped.append(name)
    return stopped


def resume_profiler(paused: dict[str, Sequence[str]], dask_worker: Any = None) -> list[str]:
    """Restart the periodic callbacks that `pause_profiler` stopped on this Dask worker (`paused`:
    worker address -> names, as Client.run returned them; run on the worker by Client.run);
    returns the names it restarted."""
    started = []
    for name in paused.get(dask_worker.address, ()):
        callback = dask_worker.periodic_callbacks.get(name)
        if callback is not None and not callback.is_running():
            callback.start()
            started.append(name)
    return started
