-- bench/pipeline.lua — wrk script for the pipelined cases of `make bench`.
--
-- `init` builds once, per wrk thread, a single string holding DEPTH copies of
-- the request wrk would send (method, path and -H headers included); every
-- `request` call returns that string, so each write carries DEPTH pipelined
-- requests. wrk parses the string at start-up to learn how many responses
-- to expect per write, and counts every response it parses, so Requests/sec
-- and the latency histogram are per request, not per batch.
--
-- Usage: wrk -s pipeline.lua http://127.0.0.1:PORT/plaintext -- DEPTH
-- (DEPTH defaults to 16).

local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  local one = wrk.format(nil, nil, nil, nil)
  batch = string.rep(one, depth)
end

function request()
  return batch
end
