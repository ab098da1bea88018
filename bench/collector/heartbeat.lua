-- wrk script: POST /api/v1/heartbeats (or GET /api/v1/hosts/self/tickets) as many enrolled hosts.
--
--   wrk -t1 -c16 -d10s -s bench/collector/heartbeat.lua http://127.0.0.1:PORT -- HOSTS_FILE [get]
--
-- HOSTS_FILE has one "hostID token" pair a line (bench/collector/load.py --write-hosts makes it).
-- Every request is built once in init(), so the client spends its CPU on the socket, not on Lua.
-- Thread i of N takes hosts i, i+N, …; each request cycles to the next host of its thread.

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local requests = {}
local n = 0

function init(args)
   local path = args[1] or error("give the hosts file: -- HOSTS_FILE [get]")
   local mode = args[2] or "post"
   local all = {}
   for line in io.lines(path) do
      local host, token = line:match("^(%S+)%s+(%S+)$")
      if host then table.insert(all, { host = host, token = token }) end
   end
   local stride = #threads > 0 and #threads or 1
   for i = (id or 0) + 1, #all, stride do
      local h = all[i]
      local headers = { ["Authorization"] = "Bearer " .. h.token }
      if mode == "get" then
         table.insert(requests, wrk.format("GET", "/api/v1/hosts/self/tickets", headers))
      else
         headers["Content-Type"] = "application/json"
         local body = string.format(
            '{"schemaVersion":1,"host":{"hostID":"%s","hostname":"bench"},"sentAt":"2026-11-29T08:00:00Z",'
               .. '"agentVersion":"bench","filesystems":[],"topProcesses":[],"failedUnits":[],"spooledBundles":0,'
               .. '"memory":{"totalBytes":17179869184,"availableBytes":8589934592,"freeBytes":4294967296,'
               .. '"buffersBytes":0,"cachedBytes":0,"swapTotalBytes":0,"swapFreeBytes":0,"meminfo":{},"pressure":{}}}',
            h.host)
         table.insert(requests, wrk.format("POST", "/api/v1/heartbeats", headers, body))
      end
   end
   if #requests == 0 then error("no hosts for thread " .. tostring(id) .. " in " .. path) end
end

function request()
   n = n + 1
   return requests[(n % #requests) + 1]
end
