"""The claim script of the Redis backend (keys: see redis_scripts): one round trip promotes
due delayed jobs, recovers stalled ones and claims, within the pause, the rate limit and the
per-group concurrency limit."""

from __future__ import annotations

from shared.workqueue.redis_scripts import PRELUDE

# ARGV: count, visibility_ms, rate_max (0: no limit), rate_window_ms, group_limit (0: none),
# a random token prefix (64 bits, drawn by the client, since a script's PRNG is seeded the
# same way on every call; the n-th job claimed by the call gets the token prefix..n).
# Promotes due delayed jobs, recovers stalled ones (their claims become void), then claims:
# nothing while the queue is paused, no more than the rate limit leaves in its window (a
# fixed window, as BullMQ's limiter), and no job of a group at its limit (parked until one
# of the group's jobs is done). Returns JSON [now, next_due_or_-1, recovered, paused (0/1),
# rate_wait_ms (0: not limited), [id, type, payload, priority, attempts, enqueued_at,
# history, token, group], ...].
CLAIM = (
    PRELUDE
    + """
local count, vis = tonumber(ARGV[1]), tonumber(ARGV[2])
local rate_max, rate_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local group_limit, token_prefix = tonumber(ARGV[5]), ARGV[6]
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
  leave_group(p .. 'job:' .. id)
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
  local claimed, rounds, deadlines = 0, 0, {}
  -- A job whose group is at its limit is parked (per group, in its order) and the pop goes
  -- on; leave_group puts it back when a job of its group is done.
  while claimed < count and rounds < 64 do
    rounds = rounds + 1
    local popped = redis.call('ZPOPMIN', p .. 'waiting', count - claimed)
    if #popped == 0 then break end
    for i = 1, #popped, 2 do
      local id = popped[i]
      local key = p .. 'job:' .. id
      local f = redis.call('HMGET', key, 'type', 'payload', 'priority', 'enqueued_at',
        'history', 'group', 'attempts')
      local exists, group = f[1], f[6]  -- no type: a hash deleted by hand, nothing to run
      if exists and group and group_limit > 0
          and tonumber(redis.call('HGET', p .. 'groups', group) or '0') >= group_limit then
        redis.call('ZADD', p .. 'parked:' .. group, popped[i + 1], id)
        redis.call('INCR', p .. 'parked')
      elseif exists then
        claimed = claimed + 1
        if group then redis.call('HINCRBY', p .. 'groups', group, 1) end
        local token = token_prefix .. claimed
        local attempts = tonumber(f[7] or '0') + 1
        redis.call('HSET', key, 'attempts', attempts, 'state', 'active', 'started_at', now,
          'token', token)
        deadlines[#deadlines + 1] = now + vis
        deadlines[#deadlines + 1] = id
        out[#out + 1] = {id, f[1], f[2], f[3], attempts, f[4], f[5], token, f[6]}
      end
    end
  end
  batched('ZADD', p .. 'active', deadlines)
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
