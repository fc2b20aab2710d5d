-- get_task.lua: wrk scenario of the cached, authenticated GET /api/v1/tasks/{id}.
--
-- Owns: the request rotation. Arguments (after --): IDS_FILE TOKEN_FILE. Every thread
-- formats one request per task id up front (so wrk spends no time building requests
-- under load) and walks them round-robin from its own offset, so the threads read
-- different tasks. Rules: one user (one token), as the benchmark asks.
done = require("wrk_report").done

local counter = 0
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

local reqs, i
function init(args)
  local ids = lines(args[1])
  local token = lines(args[2])[1]
  local headers = { ["Authorization"] = "Bearer " .. token }
  reqs = {}
  for k, id in ipairs(ids) do
    reqs[k] = wrk.format("GET", "/api/v1/tasks/" .. id, headers)
  end
  i = ((offset or 0) * math.floor(#reqs / 2)) % #reqs
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
