"""Rate limits and retries: Retry-After, reset headers, caps, backoff, fallbacks."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from config_engine.engine import Engine, EngineLimits
from config_engine.errors import (
    RateLimitedError,
    UpstreamError,
    UpstreamUnavailableError,
)
from config_engine.rate_limit import parse_retry_after, to_epoch_seconds
from tests.upstream.helpers import RecordingSleep, echo_config
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]

NOW = 1_780_000_000.0
OK = Reply(200, json={"ok": True})


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def engine(client: httpx.AsyncClient, sleep: RecordingSleep) -> Engine:
    return Engine(
        client,
        sleep=sleep,
        clock=FakeClock(),
        rng=random.Random(7),
        limits=EngineLimits(max_retries=3, max_retry_wait=60.0),
    )


def limited_config(
    vendor: Vendor, rate_limit: dict[str, Any] | None = None, **method: Any
) -> dict[str, Any]:
    config = echo_config(vendor, {"path": "/limited", **method})
    if rate_limit is not None:
        config["rate_limit"] = rate_limit
    return config


async def call(engine: Engine, config: dict[str, Any]) -> Any:
    return await engine.request(config, {}, "echo", "call")


# -- parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("120", 120.0, id="seconds"),
        pytest.param("1.5", 1.5, id="fraction"),
        pytest.param("-3", 0.0, id="negative"),
        pytest.param(
            email.utils.formatdate(NOW + 30, usegmt=True), 30.0, id="http-date"
        ),
        pytest.param(
            email.utils.formatdate(NOW - 30, usegmt=True), 0.0, id="past-date"
        ),
        pytest.param("soon", None, id="unreadable"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(NOW + 10, NOW + 10, id="epoch-seconds"),
        pytest.param((NOW + 10) * 1000, NOW + 10, id="epoch-milliseconds"),
        pytest.param(10.0, NOW + 10, id="delay-seconds"),
    ],
)
def test_reset_time_units(value: float, expected: float) -> None:
    assert to_epoch_seconds(value, NOW) == pytest.approx(expected)


# -- waiting and retrying ------------------------------------------------------


async def test_http_date_retry_after_waits_for_real(
    client: httpx.AsyncClient, upstream: Vendor
) -> None:
    # HTTP dates have whole seconds, so 2 s ahead stays in the future after
    # the fraction is cut off.
    retry_at = email.utils.formatdate(time.time() + 2, usegmt=True)
    upstream.script("/limited", Reply(429, headers={"Retry-After": retry_at}), OK)
    engine = Engine(client, limits=EngineLimits(max_retry_wait=5))
    started = time.monotonic()

    page = await call(engine, limited_config(upstream))

    assert page.result == {"ok": True}
    assert len(page.waits) == 1
    assert 0.0 < page.waits[0].seconds <= 2.0
    assert len(upstream.hits("/limited")) == 2
    assert time.monotonic() - started >= page.waits[0].seconds - 0.05


async def test_retry_after_seconds(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    upstream.script("/limited", Reply(429, headers={"Retry-After": "7"}), OK)

    page = await call(engine, limited_config(upstream))

    assert sleep.calls == [7.0]
    assert page.waits[0].reason == "rate_limited"
    assert page.waits[0].status == 429


async def test_reset_header_expression_epoch_milliseconds(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    reset_ms = str(int((NOW + 12) * 1000))
    upstream.script(
        "/limited", Reply(429, headers={"X-Plan-Quota-Reset": reset_ms}), OK
    )
    rate_limit = {
        "rate_limit_header_expression": "$number(headers.`x-plan-quota-reset`)"
    }

    await call(engine, limited_config(upstream, rate_limit))

    assert sleep.calls == [pytest.approx(12.0)]


async def test_longer_of_retry_after_and_reset_wins(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    headers = {"Retry-After": "3", "X-RateLimit-Reset": str(int(NOW + 20))}
    upstream.script("/limited", Reply(429, headers=headers), OK)

    await call(engine, limited_config(upstream))

    assert sleep.calls == [pytest.approx(20.0)]


async def test_wait_over_cap_fails_at_once(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    headers = {
        "Retry-After": "3600",
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(NOW + 3600)),
    }
    upstream.script("/limited", Reply(429, headers=headers))

    with pytest.raises(
        RateLimitedError, match=r"exceeds the maximum of 60 s"
    ) as caught:
        await call(engine, limited_config(upstream))

    assert sleep.calls == []
    assert caught.value.retry_after == pytest.approx(3600)
    assert caught.value.limit == 100
    assert caught.value.remaining == 0
    assert caught.value.reset == pytest.approx(NOW + 3600)


async def test_retries_run_out(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    upstream.script("/limited", Reply(429, headers={"Retry-After": "1"}))

    with pytest.raises(RateLimitedError, match=r"3 retries were used up"):
        await call(engine, limited_config(upstream))

    assert sleep.calls == [1.0, 1.0, 1.0]
    assert len(upstream.hits("/limited")) == 4


async def test_rate_limited_post_is_retried(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    upstream.script("/limited", Reply(429, headers={"Retry-After": "2"}), OK)

    page = await call(engine, limited_config(upstream, method="post"))

    assert page.status == 200
    assert sleep.calls == [2.0]


async def test_429_without_hint_backs_off(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    upstream.script("/limited", Reply(429), Reply(429), OK)

    await call(engine, limited_config(upstream))

    assert len(sleep.calls) == 2
    assert 0.25 <= sleep.calls[0] <= 0.5
    assert 0.5 <= sleep.calls[1] <= 1.0


async def test_custom_is_rate_limited_expression(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    upstream.script(
        "/limited",
        Reply(403, headers={"X-Rate-Limit-Remaining": "0", "Retry-After": "4"}),
        OK,
    )
    rate_limit = {
        "is_rate_limited": "status = 429 or headers.`x-rate-limit-remaining` = '0'"
    }

    page = await call(engine, limited_config(upstream, rate_limit))

    assert page.status == 200
    assert sleep.calls == [4.0]


async def test_success_is_never_rate_limited(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    upstream.script(
        "/limited",
        Reply(201, json={"created": True}, headers={"X-Rate-Limit-Remaining": "0"}),
    )
    rate_limit = {"is_rate_limited": "headers.`x-rate-limit-remaining` = '0'"}

    page = await call(engine, limited_config(upstream, rate_limit, method="post"))

    assert page.status == 201
    assert sleep.calls == []
    assert len(upstream.hits("/limited")) == 1


async def test_400_with_limit_headers_not_limited(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    headers = {"X-RateLimit-Remaining": "0", "Retry-After": "5"}
    upstream.script(
        "/limited", Reply(400, json={"message": "bad filter"}, headers=headers)
    )

    with pytest.raises(UpstreamError, match=r"status 400: bad filter") as caught:
        await call(engine, limited_config(upstream))

    assert not isinstance(caught.value, RateLimitedError)
    assert sleep.calls == []


@pytest.mark.parametrize(
    "rate_limit",
    [
        pytest.param(
            {"is_rate_limited": "status = = 429"}, id="is-rate-limited-syntax"
        ),
        pytest.param(
            {"retry_after_header_expression": "$number("}, id="retry-after-syntax"
        ),
        pytest.param(
            {"rate_limit_header_expression": "$error('boom')"}, id="reset-runtime"
        ),
    ],
)
async def test_broken_expression_falls_back(
    engine: Engine,
    sleep: RecordingSleep,
    upstream: Vendor,
    rate_limit: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream.script("/limited", Reply(429, headers={"Retry-After": "2"}), OK)
    caplog.set_level(logging.WARNING, logger="config_engine.rate_limit")

    page = await call(engine, limited_config(upstream, rate_limit))

    assert page.status == 200
    assert sleep.calls == [2.0]
    assert "rate_limit_expression_failed" in caplog.text


async def test_rate_limit_info_reported(engine: Engine, upstream: Vendor) -> None:
    headers = {
        "X-RateLimit-Limit": "500",
        "X-RateLimit-Remaining": "499",
        "X-RateLimit-Reset": str(int(NOW + 60)),
    }
    upstream.script("/limited", Reply(200, json={}, headers=headers))

    page = await call(engine, limited_config(upstream))

    assert page.rate_limit.limit == 500
    assert page.rate_limit.remaining == 499
    assert page.rate_limit.reset == pytest.approx(NOW + 60)


async def test_on_wait_hears_every_wait(
    client: httpx.AsyncClient, upstream: Vendor
) -> None:
    heard: list[float] = []
    engine = Engine(
        client,
        sleep=RecordingSleep(),
        clock=FakeClock(),
        on_wait=lambda w: heard.append(w.seconds),
    )
    upstream.script(
        "/limited",
        Reply(429, headers={"Retry-After": "1"}),
        Reply(429, headers={"Retry-After": "2"}),
        OK,
    )

    await call(engine, limited_config(upstream))

    assert heard == [1.0, 2.0]


# -- server errors -------------------------------------------------------------


async def test_5xx_then_success(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    upstream.script("/limited", Reply(503), Reply(502), OK)

    page = await call(engine, limited_config(upstream))

    assert page.result == {"ok": True}
    assert [wait.reason for wait in page.waits] == ["server_error", "server_error"]
    assert 0.25 <= sleep.calls[0] <= 0.5
    assert 0.5 <= sleep.calls[1] <= 1.0


async def test_5xx_backoff_is_capped(
    client: httpx.AsyncClient, upstream: Vendor
) -> None:
    sleep = RecordingSleep()
    limits = EngineLimits(max_retries=6, backoff_base=1.0, backoff_max=2.0)
    engine = Engine(client, sleep=sleep, clock=FakeClock(), limits=limits)
    upstream.script("/limited", Reply(500))

    with pytest.raises(UpstreamUnavailableError, match=r"status 500"):
        await call(engine, limited_config(upstream))

    assert len(sleep.calls) == 6
    assert max(sleep.calls) <= 2.0


async def test_5xx_on_post_is_not_retried(
    engine: Engine, sleep: RecordingSleep, upstream: Vendor
) -> None:
    upstream.script("/limited", Reply(500), OK)

    with pytest.raises(
        UpstreamUnavailableError, match=r"POST echo\.call failed with status 500"
    ):
        await call(engine, limited_config(upstream, method="post"))

    assert sleep.calls == []
    assert len(upstream.hits("/limited")) == 1


async def test_read_timeout_on_get_is_retried(
    client: httpx.AsyncClient, upstream: Vendor
) -> None:
    sleep = RecordingSleep()
    engine = Engine(client, sleep=sleep, limits=EngineLimits(request_timeout=0.2))
    upstream.script("/limited", Reply(200, json={}, delay=1.0), OK)

    page = await call(engine, limited_config(upstream))

    assert page.result == {"ok": True}
    assert [wait.reason for wait in page.waits] == ["timeout"]


async def test_call_deadline_cuts_attempt_timeout(
    client: httpx.AsyncClient, upstream: Vendor
) -> None:
    sleep = RecordingSleep()
    limits = EngineLimits(request_timeout=5.0, call_timeout=0.3)
    engine = Engine(client, sleep=sleep, limits=limits)
    upstream.script("/limited", Reply(200, json={}, delay=2.0), OK)

    with pytest.raises(UpstreamUnavailableError, match=r"timed out after 0\.\d+ s"):
        await call(engine, limited_config(upstream))

    assert len(upstream.hits("/limited")) == 1
    assert sleep.calls == []


async def test_rate_limit_wait_past_deadline_fails(
    client: httpx.AsyncClient, upstream: Vendor
) -> None:
    sleep = RecordingSleep()
    engine = Engine(client, sleep=sleep, limits=EngineLimits(call_timeout=5.0))
    upstream.script("/limited", Reply(429, headers={"Retry-After": "30"}), OK)

    with pytest.raises(RateLimitedError, match=r"would pass the call's deadline"):
        await call(engine, limited_config(upstream))

    assert sleep.calls == []


async def test_non_number_reset_falls_back_to_headers(
    engine: Engine,
    sleep: RecordingSleep,
    upstream: Vendor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    limited = Reply(429, headers={"X-RateLimit-Reset": str(int(NOW + 5))})
    upstream.script("/limited", limited, OK, limited, OK)
    rate_limit = {"rate_limit_header_expression": "'reset-soon-' & status"}
    config = limited_config(upstream, rate_limit)
    caplog.set_level(logging.WARNING, logger="config_engine.rate_limit")

    first = await call(engine, config)
    second = await call(engine, config)

    assert first.status == 200
    assert second.status == 200
    assert sleep.calls == [5.0, 5.0]
    warnings = [r for r in caplog.records if "not_a_number" in r.getMessage()]
    assert len(warnings) == 1
    assert "result_type=str" in warnings[0].getMessage()
    assert "reset-soon" not in caplog.text
