-- wrk script for benchmarks/ingest.py: citizens who send five messages per conversation
-- (the first opens a ticket, the rest join it). Prints p50/p95/p99 and the error count.
local texts = {"小区门口的路灯坏了一个星期了晚上很黑", "补充一下是东门那盏灯", "之前反映过一次没人处理",
               "希望尽快派人来修一下", "我的电话就是这个号码"}
local counter = 0
local session = ""
local threads = {}

setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

init = function(args)
  math.randomseed(os.time() + tid * 7919)
  prefix = string.format("w%d%06d", tid, math.random(0, 999999))
  errors = 0
end

request = function()
  if counter % 5 == 0 then session = string.format("%s%08d", prefix, counter) end
  local body = string.format('{"session":"%s","text":"%s","client_id":"c%d"}', session,
                             texts[(counter % 5) + 1], counter)
  counter = counter + 1
  return wrk.format("POST", "/api/v1/web/messages", {["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"replies": %[{', 1, false) then errors = errors + 1 end
end

done = function(summary, latency, requests)
  local errs = 0
  for _, t in ipairs(threads) do errs = errs + t:get("errors") end
  io.write(string.format("RESULT requests=%d seconds=%.3f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, errs + summary.errors.status + summary.errors.connect
      + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
