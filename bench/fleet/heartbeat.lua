-- wrk script: POST /api/v1/heartbeats as many hosts, each with its own realistic body.
--
--   wrk -t1 -c64 -d20s -s bench/fleet/heartbeat.lua http://127.0.0.1:PORT -- REQUESTS_FILE
--
-- REQUESTS_FILE has one "token<TAB>heartbeat JSON" a line (bench/fleet/run.py writes it).
-- Every request is built once in init(), so wrk spends its CPU on sockets, not on Lua.
-- Thread i of N takes lines i, i+N, …; each request cycles to the next host of its thread.
-- An optional second argument, DELAY_MS, makes each connection wait that long after each
-- answer before its next request (run.py --ingest-rate: a paced load instead of a flood).

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local requests = {}
local n = 0

local pause = 0

function init(args)
   local path = args[1] or error("give the requests file: -- REQUESTS_FILE")
   pause = tonumber(args[2] or "0") or 0
   local stride = #threads > 0 and #threads or 1
   local i = 0
   local mine = (id or 0) % stride
   for line in io.lines(path) do
      if i % stride == mine then
         local token, body = line:match("^(%S+)\t(.*)$")
         if token then
            table.insert(requests, wrk.format("POST", "/api/v1/heartbeats",
               { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body))
         end
      end
      i = i + 1
   end
   if #requests == 0 then error("no requests for thread " .. tostring(id) .. " in " .. path) end
end

function request()
   n = n + 1
   return requests[(n % #requests) + 1]
end

function delay()
   return pause
end
