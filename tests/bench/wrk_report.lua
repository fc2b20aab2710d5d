-- wrk_report.lua: the one summary every wrk scenario of tests/bench prints.
--
-- Owns: done(), which prints one line "WRK_JSON {...}" (requests, seconds, req/s, latency
-- percentiles in ms, errors by kind) for tests/bench/run to parse; wrk's own text output
-- stays above it for a human. Rules: loaded with require "wrk_report" (run sets LUA_PATH);
-- defines only done(), so a scenario keeps its own request() and init().
local M = {}

local function ms(us)
  return string.format("%.3f", us / 1000.0)
end

function M.done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%s,"p90_ms":%s,' ..
    '"p99_ms":%s,"p999_ms":%s,"max_ms":%s,"mean_ms":%s,"errors_connect":%d,' ..
    '"errors_read":%d,"errors_write":%d,"errors_timeout":%d,"non_2xx_3xx":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
    ms(latency:percentile(99.9)), ms(latency.max), ms(latency.mean),
    e.connect, e.read, e.write, e.timeout, e.status))
end

return M
