"""The Ray pool's scheduling without a cluster: a stand-in `ray` whose actors die on demand.

A file whose worker dies every time is retried on fresh workers, then recorded as an error
after MAX_TRIES; the other files are coded; every death brings a new worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from focalcli.cli.report import Reporter
from focalcli.cli.settings import Settings
from focalcli.corpus import ray_pool
from focalcli.corpus.manifest import STATUS_OK, ManifestRow, read_manifest
from focalcli.corpus.plan import Shard
from focalcli.corpus.runner import run_corpus
from focalcli.corpus.work import EncodeSpec, FileResult
from focalcli.errors import ExitCode, FocalError
from focalcli.pipeline.jobs import Job


class _ActorDied(Exception):
    pass


class _Ref:
    def __init__(self, actor: _Actor, src: str, dst: str) -> None:
        self.actor, self.src, self.dst = actor, src, dst

    def resolve(self) -> Any:
        if self.actor.dead:
            raise _ActorDied()
        if "poison" in self.src:  # this file takes its worker down (think: out of memory)
            self.actor.dead = True  # halfway through writing its output
            dst = Path(self.dst)
            (dst.parent / f".{dst.name}.x{self.actor.pid}.part").write_bytes(b"half")
            raise _ActorDied()
        Path(self.dst).write_bytes(b"coded")
        return FileResult(ManifestRow(self.src, self.dst, STATUS_OK, bytes=5,
                                      worker=f"fake:{self.actor.pid}"), 0)


class _Encode:
    def __init__(self, actor: _Actor) -> None:
        self.actor = actor

    def remote(self, src: str, dst: str) -> _Ref:
        return _Ref(self.actor, src, dst)


class _Actor:
    count = 0

    def __init__(self) -> None:
        _Actor.count += 1
        self.pid = 1000 + _Actor.count
        self.dead = False
        self.encode = _Encode(self)


class _FakeRay:
    class exceptions:  # noqa: N801 - mirrors ray.exceptions
        RayActorError = _ActorDied
        RayTaskError = RuntimeError

    def __init__(self) -> None:
        self.actors: list[_Actor] = []

    def is_initialized(self) -> bool:
        return True

    def remote(self, **_options: Any) -> Any:
        fake = self

        class _Class:
            def __init__(self, _cls: Any) -> None:
                pass

            def remote(self, _spec: EncodeSpec) -> _Actor:
                actor = _Actor()
                fake.actors.append(actor)
                return actor

        return _Class

    def wait(self, refs: list[_Ref], num_returns: int, timeout: float) -> tuple[list, list]:
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref: _Ref) -> Any:
        return ref.resolve()

    def kill(self, actor: _Actor) -> None:
        actor.dead = True

    def cancel(self, _ref: _Ref) -> None:
        pass

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 2.0}


def test_a_file_that_kills_its_worker_becomes_an_error(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    fake = _FakeRay()
    monkeypatch.setattr(ray_pool, "import_ray", lambda local=False: fake)
    pool = ray_pool.RayPool(EncodeSpec(), None, None)
    assert pool.workers == 2  # one per CPU of the cluster
    names = ["a", "b", "poison", "c", "d", "e"]
    jobs = [Job(f"in/{n}.wav", str(tmp_path / f"{n}.fcs")) for n in names]
    code = run_corpus(jobs, tmp_path, EncodeSpec(), Shard(), pool,
                      Reporter(Settings(quiet=True)))
    assert code == 1
    rows = read_manifest(tmp_path / "manifest.tsv")
    assert sorted(r.input for r in rows.values() if r.ok) == [
        f"in/{n}.wav" for n in names if n != "poison"]
    bad = rows["in/poison.wav"]
    assert not bad.ok and f"died {ray_pool.MAX_TRIES} times" in bad.error
    assert pool.worker_deaths == ray_pool.MAX_TRIES
    assert len(fake.actors) == 2 + ray_pool.MAX_TRIES  # every death: a new worker
    assert all(a.dead for a in fake.actors)  # and close() stops them all
    assert not list(tmp_path.glob("*.part"))  # what the dead workers were writing is gone


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1:6379", True), ("127.3.2.1:1", True), ("localhost:6379", True),
    ("[::1]:6379", True), ("10.0.0.5:6379", False), ("head.example:6379", False),
    ("auto", False)])
def test_loopback_addresses_are_recognised(address: str, loopback: bool) -> None:
    assert ray_pool.is_loopback(address) is loopback


def test_an_address_nobody_answers_fails_at_once_in_one_line() -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(FocalError) as err:
            ray_pool.check_reachable(address, timeout_s=2.0)
        assert err.value.exit_code == ExitCode.FAILURE
        assert str(err.value) == f"cannot connect to Ray at {address}: Connection refused"
    ray_pool.check_reachable("auto")  # left to Ray
