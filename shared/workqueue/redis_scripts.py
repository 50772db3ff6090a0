"""Lua scripts of the Redis backend: each one is a single atomic round trip for a batch.

Keys (the `{name}` hash tag keeps one queue in one cluster slot):
    wq:{name}:job:<id>  hash: type, payload, priority, score, attempts, state, enqueued_at,
                        started_at, finished_at, error, traceback, history (JSON list),
                        hung (attempts cancelled at their deadline),
                        token (the random token of the claim that holds the job, if any)
    wq:{name}:waiting   zset by score = -priority * 1e12 + sequence (ZPOPMIN: priority, FIFO),
                        or with priority aging by ready time less a head start per level
    wq:{name}:active    zset by visibility deadline (ms); expired entries are stalled jobs
    wq:{name}:delayed   zset by due time (ms)
    wq:{name}:failed    zset by failure time (ms)
    wq:{name}:completed zset by completion time (ms)
    wq:{name}:wake      list of wake-up tokens; idle workers block on it with BLPOP
    wq:{name}:seq       sequence for FIFO order within a priority
    wq:{name}:paused    exists while the queue is paused (claims take nothing)
    wq:{name}:rate      jobs claimed in the current rate-limit window (expires with it)
    wq:{name}:groups    hash: concurrency group -> how many of its jobs run now
    wq:{name}:parked:<g> zset: group g's jobs held back by its limit (by their score)
    wq:{name}:parked    how many jobs the parked sets hold together
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
-- A job's rank in `waiting` (lowest first). Strict priority: -priority * 1e12 + sequence.
-- With aging (ms per priority level) the rank is the time the job became ready minus a head
-- start of its priority, so a job of priority 0 that waited p * aging ms ranks with a new job
-- of priority p: a stream of high-priority jobs cannot starve a low one.
local function job_score(prio, seq, ready_at, aging)
  if aging > 0 then return (ready_at - prio * aging) * 1000 + seq % 1000 end
  return -prio * 1e12 + seq
end
-- A job of a concurrency group leaves it (settled, released, stalled or removed): the
-- group's count drops and the oldest job parked behind its limit waits again.
local function leave(group)
  if redis.call('HINCRBY', p .. 'groups', group, -1) <= 0 then
    redis.call('HDEL', p .. 'groups', group)
  end
  local parked = redis.call('ZPOPMIN', p .. 'parked:' .. group, 1)
  if #parked > 0 then
    redis.call('ZADD', p .. 'waiting', parked[2], parked[1])
    redis.call('DECR', p .. 'parked')
    wake(1)
  end
end
local function leave_group(key)
  local group = redis.call('HGET', key, 'group')
  if group then leave(group) end
end
-- One command for many arguments (ZADD of score/member pairs, ZREM or DEL of many), in
-- chunks that stay well below the limit of what unpack() may spread (about 8,000).
local function batched(command, key, args)
  for i = 1, #args, 1000 do
    local last = math.min(i + 999, #args)
    if key then
      redis.call(command, key, unpack(args, i, last))
    else
      redis.call(command, unpack(args, i, last))
    end
  end
end
local function trim(set, keep)
  local over = redis.call('ZCARD', p .. set) - keep
  if over > 0 then
    local old = redis.call('ZPOPMIN', p .. set, over)
    for i = 1, #old, 2 do redis.call('DEL', p .. 'job:' .. old[i]) end
  end
end
"""

# ARGV[1]: JSON list of [id, type, payload (JSON text), priority, delay_ms, group?]; ARGV[2]:
# priority aging in ms per level (0: strict priorities). Returns
# a string of one "1" (added) or "0" (id already known) per job. JSON in and out keeps a batch of
# thousands of jobs to one argument and one reply, cheap to encode and parse.
ENQUEUE = (
    PRELUDE
    + """
local jobs = cjson.decode(ARGV[1])
local aging = tonumber(ARGV[2] or '0')
local n = #jobs
local seq = redis.call('INCRBY', p .. 'seq', n) - n
local added, ready, delayed = {}, 0, 0
for i, job in ipairs(jobs) do
  local id, prio, delay = job[1], tonumber(job[4]), tonumber(job[5])
  local key = p .. 'job:' .. id
  if redis.call('EXISTS', key) == 1 then
    added[i] = '0'
  else
    local score = job_score(prio, seq + i, now + delay, aging)
    redis.call('HSET', key, 'type', job[2], 'payload', job[3], 'priority', prio,
      'score', score, 'attempts', 0, 'enqueued_at', now, 'history', '[]')
    if job[6] then redis.call('HSET', key, 'group', job[6]) end
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

# ARGV: keep_completed, keep_failed, a JSON list of the attempts that did not complete
# ([id, token, attempt, kind, delay_ms, error, traceback, hung (1: the attempt ran past its
# deadline)]), then pairs (id, token) of completed ones: the common outcome costs no JSON. An
# outcome whose token is not the job's current claim (the job stalled, was released or
# settled, and maybe claimed again) is ignored. A job holding a claim is in `active` only (a
# claim's token is dropped whenever the job leaves it), so that is the one set to leave.
# With keep_completed 0 a completed job is deleted at once (what trimming would do a step
# later). Returns the number applied.
SETTLE = (
    PRELUDE
    + """
local keep_completed, keep_failed = tonumber(ARGV[1]), tonumber(ARGV[2])
local applied, retries, settled, left, gone = 0, 0, {}, {}, {}
-- Whether this outcome holds the job's claim; if so the job leaves `active` and its group.
local function take(id, key, token)
  if settled[id] then return false end
  local held = redis.call('HMGET', key, 'token', 'group')
  if held[1] ~= token then return false end
  settled[id] = true
  left[#left + 1] = id
  if held[2] then leave(held[2]) end
  applied = applied + 1
  return true
end
for _, o in ipairs(cjson.decode(ARGV[3])) do
  local id, token, attempt, kind = o[1], o[2], o[3], o[4]
  local key = p .. 'job:' .. id
  if take(id, key, token) then
    redis.call('HDEL', key, 'token')
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
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local key = p .. 'job:' .. id
  if take(id, key, ARGV[i + 1]) then
    if keep_completed > 0 then
      redis.call('HDEL', key, 'token')
      redis.call('HSET', key, 'state', 'completed', 'finished_at', now)
      redis.call('ZADD', p .. 'completed', now, id)
    else
      gone[#gone + 1] = key
    end
  end
end
batched('ZREM', p .. 'active', left)
batched('DEL', nil, gone)
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
    leave_group(key)
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
local key = p .. 'job:' .. id
if redis.call('ZREM', p .. 'active', id) == 1 then leave_group(key) end
local group = redis.call('HGET', key, 'group')
if group and redis.call('ZREM', p .. 'parked:' .. group, id) == 1 then
  redis.call('DECR', p .. 'parked')
end
for _, set in ipairs({'waiting', 'delayed', 'failed', 'completed'}) do
  redis.call('ZREM', p .. set, id)
end
return redis.call('DEL', key)
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
