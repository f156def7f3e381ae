"""Connections to Redis (embedded or external), checked before use."""

from __future__ import annotations

import redis
import redis.asyncio as aioredis

from app.broker import BrokerError


def describe_url(url: str) -> str:
    """The URL without its password, for logs and the status bar."""
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


async def open_redis(url: str) -> aioredis.Redis:
    client = aioredis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    try:
        await client.ping()
    except (redis.RedisError, OSError) as exc:
        await client.aclose()
        raise BrokerError(f"cannot reach Redis at {describe_url(url)}: {exc}") from None
    return client
