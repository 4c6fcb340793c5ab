-- Counts responses by HTTP status across all wrk threads and prints the
-- tally when the run ends. Used by bench/load.sh when BENCH_STATUS=1 (the
-- response callback costs client CPU, so the measured runs leave it off).
-- Can also be loaded by another script with dofile().

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

codes = {}

function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      local counted = thread:get("codes") or {}
      for status, n in pairs(counted) do
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
