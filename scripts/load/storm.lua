-- wrk script: a storm of tokens whose `kid` is unknown to the server.
-- Every request carries a fresh header {"alg":"RS256","typ":"at+jwt","kid":"forged-<thread>-<n>"}
-- in front of a valid token's payload and signature, so the server must look the kid up
-- (and, at most once per kid-miss cooldown, ask the issuer) before it can answer 401.
-- Usage: wrk -s storm.lua URL -- .<payload>.<signature> [path]

local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

local function c(n) return chars:sub(n + 1, n + 1) end

local function b64url(s)
  local out, len, i = {}, #s, 1
  while i + 2 <= len do
    local a, b, d = s:byte(i, i + 2)
    local n = a * 65536 + b * 256 + d
    out[#out + 1] = c(math.floor(n / 262144) % 64) .. c(math.floor(n / 4096) % 64)
      .. c(math.floor(n / 64) % 64) .. c(n % 64)
    i = i + 3
  end
  local rem = len - i + 1
  if rem == 1 then
    local n = s:byte(i) * 65536
    out[#out + 1] = c(math.floor(n / 262144) % 64) .. c(math.floor(n / 4096) % 64)
  elseif rem == 2 then
    local a, b = s:byte(i, i + 1)
    local n = a * 65536 + b * 256
    out[#out + 1] = c(math.floor(n / 262144) % 64) .. c(math.floor(n / 4096) % 64)
      .. c(math.floor(n / 64) % 64)
  end
  return table.concat(out)
end

local threads, counter = {}, 1

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local rest, path, n = "", "/whoami", 0

function init(args)
  rest = args[1] or error("storm.lua needs .<payload>.<signature> after --")
  path = args[2] or path
  math.randomseed(os.time() + (tid or 0))
  salt = tostring(math.random(1, 1000000000))
end

function request()
  n = n + 1
  if n == 1 and os.getenv("STORM_DEBUG") then
    io.stderr:write("storm sample: " .. b64url('{"alg":"RS256","typ":"at+jwt","kid":"forged-' .. salt .. '-' .. tid .. '-' .. n .. '"}') .. "\n")
  end
  local header = '{"alg":"RS256","typ":"at+jwt","kid":"forged-' .. salt .. '-' .. tid .. '-' .. n .. '"}'
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. b64url(header) .. rest })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end
