-- wrk script: POST one JSON body with a bearer token, over and over.
--
-- Usage: wrk ... -s bench/post.lua URL -- BODY_FILE TOKEN
--
-- A response counts as failed unless its status is 200 and its body has no
-- "errors" key, because GraphQL reports most failures with status 200.
-- done() prints one line, "BENCH_RESULT {json}", that bench/wrk.py reads.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  responses = 0
  failures = 0
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local received, failed = 0, 0
  for _, thread in ipairs(threads) do
    received = received + thread:get("responses")
    failed = failed + thread:get("failures")
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"responses":%d,"failed_responses":%d,' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"non_2xx":%d,"latency_us":{"mean":%.1f,"stdev":%.1f,"p50":%d,' ..
    '"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    received, failed,
    errors.connect, errors.read, errors.write, errors.timeout,
    errors.status,
    latency.mean, latency.stdev, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max))
end
