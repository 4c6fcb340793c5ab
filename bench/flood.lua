-- wrk script: a flood of password-grant logins with wrong passwords, each
-- request from a different client address (X-Forwarded-For; the server must
-- run with SIGNET_TRUST_FORWARDED_FOR=true) and for a different username.
--
-- Environment (all optional):
--   BENCH_FLOOD_IPS=0      0: a random address per request (a large botnet);
--                          N: addresses drawn from a fixed pool of N (10.0.0.0/8)
--   BENCH_FLOOD_USERS=0    0: a random, never-registered username per request;
--                          N: usernames drawn from a pool of N unregistered ones
--   BENCH_FLOOD_TARGETS    a file of usernames (one per line) to attack instead
--                          (e.g. real accounts: what the per-account back-off does)
--
-- At the end it prints the status tally ("Status codes: 400=… 429=… 503=…").

local ip_pool = tonumber(os.getenv("BENCH_FLOOD_IPS") or "0") or 0
local user_pool = tonumber(os.getenv("BENCH_FLOOD_USERS") or "0") or 0
local targets_file = os.getenv("BENCH_FLOOD_TARGETS")

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

codes = {}
local targets = {}

local function urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", string.byte(c))
   end))
end

function init(args)
   math.randomseed(os.time() * 1000 + (id or 0) * 7919 + math.floor(os.clock() * 1e6))
   if targets_file and targets_file ~= "" then
      for line in io.lines(targets_file) do
         if line ~= "" then
            table.insert(targets, line)
         end
      end
   end
   wrk.method = "POST"
   wrk.path = "/oauth2/token"
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   wrk.headers["Accept"] = "application/json"
end

local function address()
   if ip_pool > 0 then
      local i = math.random(0, ip_pool - 1)
      return string.format("10.%d.%d.%d", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
   end
   return string.format("%d.%d.%d.%d", math.random(1, 223), math.random(0, 255),
      math.random(0, 255), math.random(1, 254))
end

local function username()
   if #targets > 0 then
      return targets[math.random(1, #targets)]
   end
   if user_pool > 0 then
      return string.format("flood-%d@example.net", math.random(0, user_pool - 1))
   end
   return string.format("flood-%08x%08x@example.net", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

function request()
   local body = "grant_type=password&username=" .. urlencode(username())
      .. "&password=" .. string.format("wrong-%08x", math.random(0, 0x7fffffff))
   wrk.headers["X-Forwarded-For"] = address()
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("codes") or {}) do
         total[status] = (total[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(total) do
      table.insert(parts, string.format("%d=%d", status, n))
   end
   table.sort(parts)
   io.write("Status codes: " .. table.concat(parts, " ") .. "\n")
end
