-- post_task.lua: wrk scenario of POST /api/v1/tasks (202 once Kafka acknowledged).
--
-- Owns: the request rotation. Arguments (after --): TOKENS_FILE (one access token a line,
-- one user each). Requests rotate over the users, so the commands spread over Kafka
-- partitions (the key is the user id) as many users' writes would.
-- Rules: a small valid body; no Idempotency-Key (that is a different, slower path).
done = require("wrk_report").done

local counter = 0
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end

local reqs, i
function init(args)
  reqs = {}
  local body = '{"title":"bench post","priority":"high","tags":["bench"]}'
  for token in io.lines(args[1]) do
    if token ~= "" then
      reqs[#reqs + 1] = wrk.format("POST", "/api/v1/tasks", {
        ["Authorization"] = "Bearer " .. token,
        ["Content-Type"] = "application/json",
      }, body)
    end
  end
  i = (offset or 0) % #reqs
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
