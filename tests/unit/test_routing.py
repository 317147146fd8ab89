import asyncio

import pytest

from llm_lsp.providers.base import (
    Chunk,
    ModelInfo,
    ModelNotFound,
    Provider,
    ProviderSettings,
    ServerFailed,
    ServerUnreachable,
)
from llm_lsp.routing.health import BACKOFF_MAX_S, Health, Status
from llm_lsp.routing.router import Router
from llm_lsp.routing.select import expand, rank


def test_health_degrades_then_marks_unavailable_and_backs_off():
    h = Health()
    assert h.status == Status.UNKNOWN and h.usable
    assert h.failure("refused", now=0.0)
    assert h.status == Status.DEGRADED and h.usable
    h.failure("refused", now=1.0)
    assert h.status == Status.UNAVAILABLE and not h.usable
    assert not h.probe_due(1.2) and h.probe_due(1.6)
    for n in range(10):
        h.failure("refused", now=10.0 + n)
    assert h.backoff_s == BACKOFF_MAX_S
    assert h.success(12.0)
    assert h.status == Status.AVAILABLE and h.backoff_s < 1 and h.consecutive_failures == 0
    assert h.success_rate is not None and 0 < h.success_rate < 1
    assert h.latency_p50_ms == 12.0


def test_soft_failures_only_degrade():
    h = Health()
    for _ in range(5):
        h.failure("busy", now=0.0, hard=False)
    assert h.status == Status.DEGRADED


def m(provider, name, caps=("fim", "chat"), **kw):
    return ModelInfo(provider, name, frozenset(caps), **kw)


def test_rank_and_expand():
    inv = {
        "ollama": [m("ollama", "small", context_length=4096), m("ollama", "coder", native_fim=True)],
        "lms": [m("lms", "big", context_length=32768, loaded=True), m("lms", "emb", ("embedding",))],
        "cloud": [m("cloud", "huge", context_length=200000, local=False, loaded=True)],
    }
    ids = list(inv)
    assert [x.id for x in expand("auto", "fim", inv, ids, "completion")][:2] == ["ollama/coder", "lms/big"]
    assert [x.id for x in expand("auto", "chat", inv, ids, "chat")] == [
        "lms/big",
        "ollama/small",
        "ollama/coder",
        "cloud/huge",
    ]
    assert [x.id for x in expand("lms/*", "embedding", inv, ids)] == ["lms/emb"]
    assert [x.id for x in expand("coder", "fim", inv, ids)] == ["ollama/coder"]
    assert rank([], "chat") == []


class FakeProvider(Provider):
    kind = "fake"

    def __init__(self, pid, script):
        super().__init__(ProviderSettings(pid, "fake", "http://127.0.0.1:1"), None)  # type: ignore[arg-type]
        self.script = script
        self.opened = 0
        self.closed = 0

    async def list_models(self):
        if self.script == "dead":
            raise ServerUnreachable("dead", provider=self.id)
        return self.remember([m(self.id, "coder")])

    async def stream_fim(self, model, req):
        self.opened += 1
        try:
            if self.script == "dead":
                raise ServerUnreachable(f"{self.id} dead", provider=self.id)
            if self.script == "missing":
                raise ModelNotFound("no such model", provider=self.id)
            yield Chunk("a")
            if self.script == "breaks":
                raise ServerFailed("broke mid-stream", provider=self.id)
            yield Chunk("b", finish_reason="stop")
        finally:
            self.closed += 1

    def stream_chat(self, model, req):
        raise NotImplementedError

    async def probe(self):
        if self.script == "dead":
            raise ServerUnreachable("dead", provider=self.id)

    async def embed(self, model, inputs):
        return []


def router_for(*scripts):
    providers = {f"p{i}": FakeProvider(f"p{i}", s) for i, s in enumerate(scripts)}
    specs = [f"p{i}/coder" for i in range(len(scripts))]
    return Router(providers, {"completion": specs}), providers


async def collect(router, routes):
    out = []
    async for route, chunk in router.stream("completion", routes, lambda r: r.provider.stream_fim(r.model.name, None)):
        out.append((route.provider.id, chunk.text))
    return out


def test_a_dead_candidate_is_dropped_from_the_route():
    async def go():
        router, _ = router_for("dead", "ok")
        routes = await router.route("completion")
        return router, routes

    router, routes = asyncio.run(go())
    assert [r.provider.id for r in routes] == ["p1"]
    # Discovery and the model lookup both failed to connect: two failures in a row make it unavailable.
    assert router.health["p0"].status == Status.UNAVAILABLE
    assert router.health["p1"].status == Status.AVAILABLE


def test_stream_falls_back_and_closes_every_stream():
    async def go():
        router, ps = router_for("ok", "ok")
        routes = await router.route("completion")
        ps["p0"].script = "dead"
        out = await collect(router, routes)
        assert out == [("p1", "a"), ("p1", "b")]
        assert ps["p0"].opened == ps["p0"].closed == 1 and ps["p1"].opened == ps["p1"].closed == 1
        assert router.health["p0"].status == Status.DEGRADED
        assert "falling back to p1/coder" in router.events[-1].text
        # A model-not-found is the configuration's fault, not the server's: health is untouched.
        ps["p0"].script = "missing"
        router.health["p0"].success()
        assert await collect(router, routes) == [("p1", "a"), ("p1", "b")]
        assert router.health["p0"].status == Status.AVAILABLE

    asyncio.run(go())


def test_failure_after_output_is_raised_not_retried():
    async def go():
        router, ps = router_for("breaks", "ok")
        routes = await router.route("completion")
        with pytest.raises(ServerFailed):
            await collect(router, routes)
        assert ps["p1"].opened == 0

    asyncio.run(go())


def test_all_unavailable_is_a_clear_error_without_network():
    async def go():
        router, ps = router_for("dead")
        for _ in range(2):
            await router.discover()
        assert router.health["p0"].status == Status.UNAVAILABLE
        opened = ps["p0"].opened
        with pytest.raises(Exception, match="every completion candidate is unavailable"):
            await router.route("completion")
        assert ps["p0"].opened == opened

    asyncio.run(go())


class SlowProvider(FakeProvider):
    async def list_models(self):
        await asyncio.sleep(0.2)
        return await super().list_models()


def test_settle_waits_for_a_slow_discovery():
    async def go():
        providers = {"fast": FakeProvider("fast", "ok"), "slow": SlowProvider("slow", "ok")}
        router = Router(providers, {})
        background = asyncio.ensure_future(router.discover())
        await asyncio.sleep(0.05)  # the fast one is listed, the slow one is still being asked
        assert "fast" in router.inventory and "slow" not in router.inventory
        await router.settle()
        assert set(router.inventory) == {"fast", "slow"}
        await background

    asyncio.run(go())
