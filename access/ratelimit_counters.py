"""The counters behind every request's rate limits, counted in one round trip to Redis.

A request may touch four kinds of counters: its identity's burst and sustained windows
(fixed windows), the invalid-credential counter of its address and, on a login path, the
login counter of its address (sliding windows: this minute's and the previous minute's
count). ``count`` does what one request needs in one step: with Redis, one ``EVALSHA`` of
the script below; with any other cache (local memory: one process, development and tests),
the same steps with Django's cache API. Both implementations follow the same rules:

1. ``keyfail == CHECK`` (a valid API key was sent): if the address's invalid-credential
   estimate is already over its limit, the request counts as one more invalid credential
   and is refused, counting nothing else;
2. ``keyfail == COUNT`` (an invalid credential was sent): it counts as one, and the request
   is refused if that puts the address over the limit, counting nothing else;
3. otherwise every fixed window of the identity is incremented, and the login counter when
   the request is a login.

Keys are the cache's own (``cache.make_key``), so a counter read through Django's cache and
one written by the script are the same integer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

NONE, CHECK, COUNT = 0, 1, 2  # what the request's credential means for the keyfail counter


@dataclass(frozen=True)
class Sliding:
    """A sliding-window counter: this minute's key, the previous minute's, and the weight
    (0..1) of the previous minute in the last 60 seconds."""

    previous_key: str
    current_key: str
    overlap: float
    limit: int
    ttl: int


@dataclass(frozen=True)
class Fixed:
    key: str
    limit: int
    ttl: int


@dataclass(frozen=True)
class Plan:
    fixed: list[Fixed]
    keyfail: Sliding | None = None
    keyfail_mode: int = NONE
    login: Sliding | None = None


@dataclass
class Counts:
    refused_by_keyfail: bool = False
    keyfail: tuple[int, int] = (0, 0)  # (previous, current)
    fixed: list[int] = field(default_factory=list)
    login: tuple[int, int] = (0, 0)


# KEYS: keyfail previous, keyfail current, login previous, login current, fixed windows...
# (unused slots are ""). ARGV: keyfail mode, keyfail overlap, keyfail limit, keyfail ttl,
# login? (0/1), login ttl, then one ttl per fixed window.
SCRIPT = """
local function incr(key, ttl)
  local value = redis.call('INCR', key)
  if value == 1 then redis.call('EXPIRE', key, ttl) end
  return value
end
local mode = tonumber(ARGV[1])
local kf_prev, kf_cur = 0, 0
if mode > 0 then
  local overlap, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
  kf_prev = tonumber(redis.call('GET', KEYS[1]) or '0')
  kf_cur = tonumber(redis.call('GET', KEYS[2]) or '0')
  if mode == 2 or kf_prev * overlap + kf_cur > limit then
    kf_cur = incr(KEYS[2], tonumber(ARGV[4]))
    if kf_prev * overlap + kf_cur > limit then return {1, kf_prev, kf_cur} end
  end
end
local out = {0, kf_prev, kf_cur, 0, 0}
if ARGV[5] == '1' then
  out[5] = incr(KEYS[4], tonumber(ARGV[6]))
  out[4] = tonumber(redis.call('GET', KEYS[3]) or '0')
end
for i = 5, #KEYS do
  out[#out + 1] = incr(KEYS[i], tonumber(ARGV[i + 2]))
end
return out
"""


class _RedisCounters:
    """One client and one registered script per process (redis-py's pool reconnects after
    a fork): Django's Redis cache builds a new client object for every operation."""

    def __init__(self) -> None:
        self._script: Any = None
        self._url: str | None = None

    def script(self) -> Any:
        url = settings.REDIS_URL
        if self._script is None or self._url != url:
            client = redis.Redis.from_url(url)
            self._script, self._url = client.register_script(SCRIPT), url
        return self._script

    def count(self, plan: Plan) -> Counts:
        keyfail, login = plan.keyfail, plan.login
        keys = [
            keyfail.previous_key if keyfail else "",
            keyfail.current_key if keyfail else "",
            login.previous_key if login else "",
            login.current_key if login else "",
            *(window.key for window in plan.fixed),
        ]
        args = [
            plan.keyfail_mode if keyfail else NONE,
            keyfail.overlap if keyfail else 0,
            keyfail.limit if keyfail else 0,
            keyfail.ttl if keyfail else 0,
            1 if login else 0,
            login.ttl if login else 0,
            *(window.ttl for window in plan.fixed),
        ]
        reply = [int(value) for value in self.script()(keys=keys, args=args)]
        if reply[0]:
            return Counts(refused_by_keyfail=True, keyfail=(reply[1], reply[2]))
        return Counts(keyfail=(reply[1], reply[2]), login=(reply[3], reply[4]), fixed=reply[5:])


def _incr(key: str, ttl: int) -> int:
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, ttl)
        return 1


def _get(key: str) -> int:
    return int(cache.get(key, 0))


def _count_with_cache(plan: Plan) -> Counts:
    """The script's steps with Django's cache API (not atomic across processes: only for
    caches that are not shared anyway)."""
    counts = Counts()
    keyfail = plan.keyfail
    if keyfail is not None and plan.keyfail_mode != NONE:
        previous, current = _get(keyfail.previous_key), _get(keyfail.current_key)
        over = previous * keyfail.overlap + current > keyfail.limit
        if plan.keyfail_mode == COUNT or over:
            current = _incr(keyfail.current_key, keyfail.ttl)
            if previous * keyfail.overlap + current > keyfail.limit:
                return Counts(refused_by_keyfail=True, keyfail=(previous, current))
        counts.keyfail = (previous, current)
    if plan.login is not None:
        current = _incr(plan.login.current_key, plan.login.ttl)
        counts.login = (_get(plan.login.previous_key), current)
    counts.fixed = [_incr(window.key, window.ttl) for window in plan.fixed]
    return counts


_redis = _RedisCounters()


def raw_key(key: str) -> str:
    """A counter's name as the cache stores it (prefix and version), so the script and
    Django's cache API count in the same key."""
    return cache.make_key(key)


def count(plan: Plan) -> Counts:
    """Apply ``plan`` (see the module docstring); raises the cache's errors (Redis down)."""
    # ``cache`` is a proxy: the backend itself says whether it is Redis.
    if isinstance(caches["default"], RedisCache):
        return _redis.count(_with_raw_keys(plan))
    return _count_with_cache(plan)


def _with_raw_keys(plan: Plan) -> Plan:
    def sliding(window: Sliding | None) -> Sliding | None:
        if window is None:
            return None
        return Sliding(
            raw_key(window.previous_key),
            raw_key(window.current_key),
            window.overlap,
            window.limit,
            window.ttl,
        )

    return Plan(
        fixed=[Fixed(raw_key(w.key), w.limit, w.ttl) for w in plan.fixed],
        keyfail=sliding(plan.keyfail),
        keyfail_mode=plan.keyfail_mode,
        login=sliding(plan.login),
    )
