"""Lua scripts of the Redis backend's controls: pause and resume, promote, schedules.

Keys besides those of redis_scripts:
    wq:{name}:paused          exists while the queue is paused
    wq:{name}:schedules       hash: schedule id -> its definition (JSON)
    wq:{name}:schedules:next  zset: schedule id by its next tick (ms)
"""

from __future__ import annotations

from shared.workqueue.redis_scripts import PRELUDE as _PRELUDE

# ARGV[1]: "1" to pause, "0" to resume. Resuming wakes the idle workers.
PAUSE = (
    _PRELUDE
    + """
if ARGV[1] == '1' then
  return redis.call('SET', p .. 'paused', '1') and 1
end
local was = redis.call('DEL', p .. 'paused')
wake(8)
return was
"""
)

# ARGV[1]: id. A delayed job (or a retry waiting out its backoff) moves to waiting now.
PROMOTE = (
    _PRELUDE
    + """
local id = ARGV[1]
local key = p .. 'job:' .. id
if redis.call('ZREM', p .. 'delayed', id) == 0 then return 0 end
redis.call('ZADD', p .. 'waiting', redis.call('HGET', key, 'score'), id)
redis.call('HSET', key, 'state', 'waiting')
wake(1)
return 1
"""
)
