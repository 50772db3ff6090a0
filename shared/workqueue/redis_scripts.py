"""Lua scripts of the Redis backend: each one is a single atomic round trip for a batch.

Keys (the `{name}` hash tag keeps one queue in one cluster slot):
    wq:{name}:job:<id>  hash: type, payload, priority, score, attempts, state, enqueued_at,
                        started_at, finished_at, error, traceback, history (JSON list),
                        hung (attempts cancelled at their deadline),
                        token (the random token of the claim that holds the job, if any)
    wq:{name}:waiting   zset by score = -priority * 1e12 + sequence (ZPOPMIN: priority, FIFO)
    wq:{name}:active    zset by visibility deadline (ms); expired entries are stalled jobs
    wq:{name}:delayed   zset by due time (ms)
    wq:{name}:failed    zset by failure time (ms)
    wq:{name}:completed zset by completion time (ms)
    wq:{name}:wake      list of wake-up tokens; idle workers block on it with BLPOP
    wq:{name}:seq       sequence for FIFO order within a priority
    wq:{name}:paused    exists while the queue is paused (claims take nothing)
    wq:{name}:rate      jobs claimed in the current rate-limit window (expires with it)
"""

from __future__ import annotations

PRELUDE = """
local p = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function wake(n)
  local len = redis.call('LLEN', p .. 'wake')
  local add = math.min(n, 64 - len)
  for _ = 1, add do redis.call('LPUSH', p .. 'wake', '1') end
end
local function trim(set, keep)
  local over = redis.call('ZCARD', p .. set) - keep
  if over > 0 then
    local old = redis.call('ZPOPMIN', p .. set, over)
    for i = 1, #old, 2 do redis.call('DEL', p .. 'job:' .. old[i]) end
  end
end
"""

# ARGV[1]: JSON list of [id, type, payload (JSON text), priority, delay_ms]. Returns a string
# of one "1" (added) or "0" (id already known) per job. JSON in and out keeps a batch of
# thousands of jobs to one argument and one reply, cheap to encode and parse.
ENQUEUE = (
    PRELUDE
    + """
local jobs = cjson.decode(ARGV[1])
local n = #jobs
local seq = redis.call('INCRBY', p .. 'seq', n) - n
local added, ready, delayed = {}, 0, 0
for i, job in ipairs(jobs) do
  local id, prio, delay = job[1], tonumber(job[4]), tonumber(job[5])
  local key = p .. 'job:' .. id
  if redis.call('EXISTS', key) == 1 then
    added[i] = '0'
  else
    local score = -prio * 1e12 + seq + i
    redis.call('HSET', key, 'type', job[2], 'payload', job[3], 'priority', prio,
      'score', score, 'attempts', 0, 'enqueued_at', now, 'history', '[]')
    if delay > 0 then
      redis.call('HSET', key, 'state', 'delayed')
      redis.call('ZADD', p .. 'delayed', now + delay, id)
      delayed = delayed + 1
    else
      redis.call('HSET', key, 'state', 'waiting')
      redis.call('ZADD', p .. 'waiting', score, id)
      ready = ready + 1
    end
    added[i] = '1'
  end
end
if ready + delayed > 0 then wake(math.max(1, math.min(ready, 8))) end
return table.concat(added)
"""
)

# ARGV: count, visibility_ms, rate_max (0: no limit), rate_window_ms, then `count` random
# tokens (one per claim; the client draws them, since a script's PRNG is seeded the same way
# on every call). Promotes due delayed jobs, recovers stalled ones (their claims become
# void), then claims, unless the queue is paused, and no more than the rate limit leaves in
# its window (a fixed window, as BullMQ's limiter). Returns JSON [now, next_due_or_-1,
# recovered, paused (0/1), rate_wait_ms (0: not limited), [id, type, payload, priority,
# attempts, enqueued_at, history, token], ...].
CLAIM = (
    PRELUDE
    + """
local count, vis = tonumber(ARGV[1]), tonumber(ARGV[2])
local rate_max, rate_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local function back_to_waiting(id, set)
  redis.call('ZREM', p .. set, id)
  local key = p .. 'job:' .. id
  local score = redis.call('HGET', key, 'score')
  if score then
    redis.call('ZADD', p .. 'waiting', score, id)
    redis.call('HSET', key, 'state', 'waiting')
    redis.call('HDEL', key, 'token')
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'delayed', '-inf', now, 'LIMIT', 0, 1000)) do
  back_to_waiting(id, 'delayed')
end
local stalled = redis.call('ZRANGEBYSCORE', p .. 'active', '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(stalled) do
  back_to_waiting(id, 'active')
  redis.call('HINCRBY', p .. 'job:' .. id, 'stalls', 1)
end
local out = {tostring(now), -1, #stalled, 0, 0}
if redis.call('EXISTS', p .. 'paused') == 1 then
  out[4] = 1
  count = 0
end
if count > 0 and rate_max > 0 then
  local used = tonumber(redis.call('GET', p .. 'rate') or '0')
  count = math.max(0, math.min(count, rate_max - used))
  if count == 0 and redis.call('ZCARD', p .. 'waiting') > 0 then
    out[5] = math.max(1, redis.call('PTTL', p .. 'rate'))
  end
end
if count > 0 then
  local popped = redis.call('ZPOPMIN', p .. 'waiting', count)
  local claimed = 0
  for i = 1, #popped, 2 do
    local id = popped[i]
    local key = p .. 'job:' .. id
    if redis.call('EXISTS', key) == 1 then
      claimed = claimed + 1
      local token = ARGV[4 + (i + 1) / 2]
      local attempts = redis.call('HINCRBY', key, 'attempts', 1)
      redis.call('HSET', key, 'state', 'active', 'started_at', now, 'token', token)
      redis.call('ZADD', p .. 'active', now + vis, id)
      local f = redis.call('HMGET', key, 'type', 'payload', 'priority', 'enqueued_at', 'history')
      out[#out + 1] = {id, f[1], f[2], f[3], attempts, f[4], f[5], token}
    end
  end
  if rate_max > 0 and claimed > 0 then
    if redis.call('INCRBY', p .. 'rate', claimed) == claimed then
      redis.call('PEXPIRE', p .. 'rate', rate_ms)
    end
  end
end
local nxt = redis.call('ZRANGE', p .. 'delayed', 0, 0, 'WITHSCORES')
if #nxt > 0 then out[2] = nxt[2] end
return cjson.encode(out)
"""
)

# ARGV: keep_completed, keep_failed, JSON list of [id, token, attempt, kind, delay_ms, error,
# traceback, hung (1: the attempt ran past its deadline)]. An outcome whose token is not the
# job's current claim (the job stalled, was released or settled, and maybe claimed again) is
# ignored. Returns the number applied.
SETTLE = (
    PRELUDE
    + """
local keep_completed, keep_failed = tonumber(ARGV[1]), tonumber(ARGV[2])
local applied, retries = 0, 0
for _, o in ipairs(cjson.decode(ARGV[3])) do
  local id, token, attempt, kind = o[1], o[2], o[3], o[4]
  local key = p .. 'job:' .. id
  if redis.call('HGET', key, 'token') == token then
    redis.call('HDEL', key, 'token')
    redis.call('ZREM', p .. 'active', id)
    redis.call('ZREM', p .. 'waiting', id)
    applied = applied + 1
    if kind == 'completed' then
      redis.call('HSET', key, 'state', 'completed', 'finished_at', now)
      redis.call('ZADD', p .. 'completed', now, id)
    else
      local history = cjson.decode(redis.call('HGET', key, 'history') or '[]')
      local delay = tonumber(o[5])
      local entry = {attempt = tonumber(attempt), error = o[6], at = now}
      if kind == 'retry' then entry.retry_in_ms = delay end
      if tonumber(o[8]) == 1 then
        entry.hung = true
        redis.call('HINCRBY', key, 'hung', 1)
      end
      history[#history + 1] = entry
      redis.call('HSET', key, 'history', cjson.encode(history), 'error', o[6],
        'traceback', o[7], 'finished_at', now)
      if kind == 'retry' then
        redis.call('HSET', key, 'state', 'delayed')
        redis.call('ZADD', p .. 'delayed', now + delay, id)
        retries = retries + 1
      else
        redis.call('HSET', key, 'state', 'failed')
        redis.call('ZADD', p .. 'failed', now, id)
      end
    end
  end
end
if retries > 0 then wake(1) end
trim('completed', keep_completed)
trim('failed', keep_failed)
return applied
"""
)

# ARGV: visibility_ms, then pairs id, token. Pushes the deadline of jobs still held.
EXTEND = (
    PRELUDE
    + """
local vis = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', p .. 'job:' .. id, 'token') == ARGV[i + 1] then
    redis.call('ZADD', p .. 'active', 'XX', now + vis, id)
  end
end
return 1
"""
)

# ARGV: pairs id, token. Gives claimed jobs back untouched (the claim is not an attempt).
RELEASE = (
    PRELUDE
    + """
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  local key = p .. 'job:' .. id
  if redis.call('HGET', key, 'token') == ARGV[i + 1]
      and redis.call('ZREM', p .. 'active', id) == 1 then
    redis.call('HDEL', key, 'token')
    redis.call('HINCRBY', key, 'attempts', -1)
    redis.call('HSET', key, 'state', 'waiting')
    redis.call('ZADD', p .. 'waiting', redis.call('HGET', key, 'score'), id)
  end
end
wake(1)
return 1
"""
)

# ARGV: ids (empty: every failed job). Failed jobs go back to waiting with fresh attempts.
# An id whose hash is gone (evicted, or deleted by hand) is dropped from the set, not moved.
RETRY_FAILED = (
    PRELUDE
    + """
local ids = ARGV
if #ids == 0 then ids = redis.call('ZRANGE', p .. 'failed', 0, -1) end
local moved = 0
for _, id in ipairs(ids) do
  local key = p .. 'job:' .. id
  local score = redis.call('HGET', key, 'score')
  if redis.call('ZREM', p .. 'failed', id) == 1 and score then
    redis.call('HSET', key, 'state', 'waiting', 'attempts', 0)
    redis.call('ZADD', p .. 'waiting', score, id)
    moved = moved + 1
  end
end
if moved > 0 then wake(math.min(moved, 8)) end
return moved
"""
)

# ARGV[1]: id. Removes a job from every set and deletes it.
REMOVE = (
    PRELUDE
    + """
local id = ARGV[1]
for _, set in ipairs({'waiting', 'active', 'delayed', 'failed', 'completed'}) do
  redis.call('ZREM', p .. set, id)
end
return redis.call('DEL', p .. 'job:' .. id)
"""
)

# Deletes completed jobs in chunks; returns how many were deleted.
PURGE_COMPLETED = (
    PRELUDE
    + """
local total = 0
while true do
  local ids = redis.call('ZPOPMIN', p .. 'completed', 1000)
  if #ids == 0 then break end
  for i = 1, #ids, 2 do redis.call('DEL', p .. 'job:' .. ids[i]) end
  total = total + #ids / 2
end
return total
"""
)
