-- list_tasks.lua: wrk scenario of the cached, authenticated GET /api/v1/tasks (first page).
--
-- Owns: the one request. Arguments (after --): TOKEN_FILE [LIMIT (50)]. Every request
-- asks for the same first page (default sort, LIMIT items) of the GET user, whose tasks
-- were applied and listed once by setup_data.py, so the page is cached.
-- Rules: one user (one token), formatted up front, as get_task.lua.
done = require("wrk_report").done

local req
function init(args)
  local token
  for line in io.lines(args[1]) do
    if line ~= "" then token = line break end
  end
  local limit = args[2] or "50"
  req = wrk.format("GET", "/api/v1/tasks?limit=" .. limit,
                   { ["Authorization"] = "Bearer " .. token })
end

function request()
  return req
end
