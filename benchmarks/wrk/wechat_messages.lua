-- wrk script for benchmarks/wechat_ingest.py: replays WeChat safe-mode requests signed and encrypted
-- beforehand (one per line of the file in the environment variable WECHAT_REQUESTS: the query string,
-- a tab, the XML body). Each request is sent once; prints p50/p95/p99, the error count and how many
-- requests were left over (none left over: the run outlasted the file and its end is not measured).
local path = os.getenv("WECHAT_REQUESTS")
local lines = {}
local next_line = 1
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  for line in io.lines(path) do
    local query, body = line:match("^([^\t]*)\t(.*)$")
    table.insert(lines, wrk.format("POST", wrk.path .. "?" .. query, {["Content-Type"] = "text/xml"}, body))
  end
  errors = 0
  sent = 0
end

request = function()
  local req = lines[next_line]
  if req == nil then
    wrk.thread:stop()
    return lines[#lines]
  end
  next_line = next_line + 1
  sent = sent + 1
  return req
end

response = function(status, headers, body)
  if status ~= 200 or not string.find(body, "<Encrypt>", 1, true) then errors = errors + 1 end
end

done = function(summary, latency, requests)
  local errs, total = 0, 0
  for _, t in ipairs(threads) do
    errs = errs + t:get("errors")
    total = total + t:get("sent")
  end
  io.write(string.format("RESULT requests=%d seconds=%.3f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d sent=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, errs + summary.errors.status + summary.errors.connect
      + summary.errors.read + summary.errors.write + summary.errors.timeout, total))
end
