-- Replays the requests of a data file written by tests/bench/loadgen.py.
-- wrk -s requests.lua URL -- DATA_FILE THREADS DELAY_MS RUN_ID [once]
-- The data file defines `tokens` (bearer headers) and `requests`, a list of
-- {method, path, token index, body, unique key?}. Thread k of n sends requests k, k+n, k+2n, ...
-- wrapping at the end (with `once`, the thread stops there instead, its last request a GET
-- /healthz); a request marked unique gets an Idempotency-Key of its own each time
-- (RUN_ID-thread-count).
-- The summary counts the responses by status (a 409 of a request sent twice is not a success)
-- and how often a thread wrapped, so that a rate can count only what succeeded.

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter)
  table.insert(threads, thread)
end

function init(args)
  dofile(args[1])
  stride = tonumber(args[2])
  pause = tonumber(args[3])
  once = args[5] == "once"
  index = offset
  sent = 0
  wrapped = 0
  statuses = {}
  prefix = string.format("%s-%d-", args[4], offset)
end

function delay()
  return pause
end

function request()
  if index > #requests then
    index = offset
    wrapped = wrapped + 1
    if once then
      -- wrk may still send what this returns: a probe, not a second copy of a request.
      wrk.thread:stop()
      return wrk.format("GET", "/healthz")
    end
  end
  local r = requests[index]
  index = index + stride
  sent = sent + 1
  local headers = { ["Authorization"] = tokens[r[3]] }
  if r[4] ~= nil then
    headers["Content-Type"] = "application/json"
  end
  if r[5] then
    headers["Idempotency-Key"] = prefix .. sent
  end
  return wrk.format(r[1], r[2], headers, r[4])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  local wraps = 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
    wraps = wraps + thread:get("wrapped")
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    '{"duration_us": %d, "requests": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, ' ..
    '"max_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d}, "statuses": {%s}, "wrapped": %d}\n',
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(99),
    latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ", "), wraps))
end
