-- wrk script: the refresh-token grant (RFC 6749 §6) on /oauth2/token, each
-- refresh token used exactly once, as a real client does (Signet rotates the
-- token on every use; presenting a used one again would be reuse and revoke
-- the session).
--
-- wrk's Lua cannot tell which connection a request goes out on, so chains are
-- kept per wrk thread, not per connection: the thread holds a pool of refresh
-- tokens (one per session); request() takes one from the pool, and
-- response() puts the rotated successor from the answer back. A session is
-- therefore never refreshed twice at once, and every request carries a
-- token that is valid at that moment. The pool must hold more sessions than
-- the thread has connections (bench/refresh.sh makes 2 per connection).
--
-- Environment:
--   BENCH_TOKENS    file with one refresh token per line (pre-created sessions)
--   BENCH_THREADS   wrk's -t; thread k of n takes lines k, k+n, k+2n, ...
--
-- At the end it prints the status tally ("Status codes: 200=… 400=…") and the
-- chains lost (a non-200 answer or a timed-out request ends a chain; an empty
-- pool makes request() send a dummy token, counted as "starved").

local tokens_file = os.getenv("BENCH_TOKENS") or error("BENCH_TOKENS is not set")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "") or error("BENCH_THREADS is not set")

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
local pool = {}
local head, tail = 1, 0
codes = {}
starved = 0
sessions = 0

local function urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", string.byte(c))
   end))
end

local function push(token)
   tail = tail + 1
   pool[tail] = token
end

local function pop()
   if head > tail then
      return nil
   end
   local token = pool[head]
   pool[head] = nil
   head = head + 1
   return token
end

function init(args)
   local n = 0
   for line in io.lines(tokens_file) do
      if line ~= "" then
         if n % nthreads == id then
            push(line)
            sessions = sessions + 1
         end
         n = n + 1
      end
   end
   if sessions == 0 then
      error("no refresh tokens for thread " .. id .. " in " .. tokens_file)
   end
   wrk.method = "POST"
   wrk.path = "/oauth2/token"
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   wrk.headers["Accept"] = "application/json"
end

function request()
   local token = pop()
   if token == nil then
      starved = starved + 1
      token = "starved"
   end
   return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. urlencode(token))
end

function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
   if status == 200 then
      local successor = body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if successor then
         push(successor)
      end
   end
end

function done(summary, latency, requests)
   local total, lost, started, starving = {}, 0, 0, 0
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("codes") or {}) do
         total[status] = (total[status] or 0) + n
      end
      started = started + (thread:get("sessions") or 0)
      starving = starving + (thread:get("starved") or 0)
   end
   local parts = {}
   for status, n in pairs(total) do
      table.insert(parts, string.format("%d=%d", status, n))
   end
   table.sort(parts)
   io.write("Status codes: " .. table.concat(parts, " ") .. "\n")
   io.write(string.format("Sessions: %d, starved requests: %d, timeouts: %d\n",
      started, starving, summary.errors.timeout))
end
