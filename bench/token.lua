-- wrk script: the OAuth 2.0 password grant (RFC 6749 §4.3) on /oauth2/token,
-- posted as application/x-www-form-urlencoded. Credentials come from the
-- environment (bench/load.sh creates the user and exports them):
--   BENCH_EMAIL, BENCH_PASSWORD
-- With BENCH_STATUS=1 it also counts responses by status (bench/status.lua).

local function urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", string.byte(c))
   end))
end

local email = os.getenv("BENCH_EMAIL") or error("BENCH_EMAIL is not set")
local password = os.getenv("BENCH_PASSWORD") or error("BENCH_PASSWORD is not set")

wrk.method = "POST"
wrk.path = "/oauth2/token"
wrk.body = "grant_type=password&username=" .. urlencode(email)
   .. "&password=" .. urlencode(password)
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"

if os.getenv("BENCH_STATUS") == "1" then
   local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
   dofile(here .. "status.lua")
end
