-- produce.lua: wrk scenario of the write baseline, POST /produce on produce_server.c.
--
-- Owns: the request rotation. Arguments (after --): USERS_FILE (one POST user id a line,
-- the users post_task.lua writes as). Each request carries, as body, a task.create command
-- in the wire form of shared/task_command_codec.c for the bench POST's task (same fields, about
-- the size of what the API produces) and, as X-Bench-Key, its user id: the message is
-- keyed and sized like the API's. Requests rotate over the users, as post_task.lua does,
-- so the messages spread over the partitions the same way.
-- Rules: requests formatted up front; nothing else differs from post_task.lua's load.
done = require("wrk_report").done

local counter = 0
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end

local reqs, i
function init(args)
  reqs = {}
  local n = 0
  for user in io.lines(args[1]) do
    if user ~= "" then
      n = n + 1
      local body = string.format(
        '{"command_id":"01900000-0000-7000-8000-%012d","type":"task.create",' ..
        '"user_id":"%s","task_id":"01900000-0000-7000-9000-%012d",' ..
        '"issued_at":"2026-12-03T06:04:05.123Z","request_id":"01900000-0000-7000-a000-%012d",' ..
        '"expected_version":null,"task":{"title":"bench post","description":"",' ..
        '"status":"todo","priority":"high","due_at":null,"tags":["bench"]}}', n, user, n, n)
      reqs[#reqs + 1] = wrk.format("POST", "/produce", {
        ["X-Bench-Key"] = user,
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
