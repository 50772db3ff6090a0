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

# ARGV: schedule id, definition (JSON), first tick (ms). Adds or replaces a schedule.
ADD_SCHEDULE = (
    _PRELUDE
    + """
redis.call('HSET', p .. 'schedules', ARGV[1], ARGV[2])
redis.call('ZADD', p .. 'schedules:next', tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

# ARGV[1]: schedule id. Returns 1 if it existed.
REMOVE_SCHEDULE = (
    _PRELUDE
    + """
redis.call('ZREM', p .. 'schedules:next', ARGV[1])
return redis.call('HDEL', p .. 'schedules', ARGV[1])
"""
)

# Returns JSON [now, first_tick_or_-1, [id, tick, definition or false], ...] of due schedules.
DUE_SCHEDULES = (
    _PRELUDE
    + """
local due = redis.call('ZRANGEBYSCORE', p .. 'schedules:next', '-inf', now, 'WITHSCORES',
  'LIMIT', 0, 100)
local out = {now, -1}
for i = 1, #due, 2 do
  out[#out + 1] = {due[i], due[i + 1], redis.call('HGET', p .. 'schedules', due[i])}
end
local first = redis.call('ZRANGE', p .. 'schedules:next', 0, 0, 'WITHSCORES')
if #first > 0 then out[2] = first[2] end
return cjson.encode(out)
"""
)

# ARGV: schedule id, tick (ms), next tick (ms), job id, job type, payload, priority, aging
# (ms per priority level, 0: strict). The
# worker whose tick is still the schedule's next one moves it on and enqueues the tick's job
# (the per-tick claim); any other worker finds the tick moved and does nothing. Returns 1
# if a job was enqueued.
FIRE_SCHEDULE = (
    _PRELUDE
    + """
local sid, tick = ARGV[1], tonumber(ARGV[2])
if tonumber(redis.call('ZSCORE', p .. 'schedules:next', sid) or '-1') ~= tick then return 0 end
redis.call('ZADD', p .. 'schedules:next', tonumber(ARGV[3]), sid)
local id = ARGV[4]
local key = p .. 'job:' .. id
if redis.call('EXISTS', key) == 1 then return 0 end
local prio = tonumber(ARGV[7])
local score = job_score(prio, redis.call('INCR', p .. 'seq'), now, tonumber(ARGV[8]))
redis.call('HSET', key, 'type', ARGV[5], 'payload', ARGV[6], 'priority', prio, 'score', score,
  'attempts', 0, 'enqueued_at', now, 'history', '[]', 'state', 'waiting', 'schedule', sid)
redis.call('ZADD', p .. 'waiting', score, id)
wake(1)
return 1
"""
)
