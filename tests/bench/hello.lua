-- hello.lua: wrk scenario for the bare ulfius baseline (GET /hello on hello_server).
-- Owns nothing but the shared summary: wrk's default request is the URL given.
done = require("wrk_report").done
