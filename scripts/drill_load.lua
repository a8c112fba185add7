-- wrk script for scripts/outage_drill.sh: GET DRILL_PATH (default /whoami) with a bearer
-- token, cycling through the tokens in the file DRILL_TOKENS (one per line).
local tokens = {}
for line in io.lines(os.getenv("DRILL_TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local path = os.getenv("DRILL_PATH") or "/whoami"
local i = 0

request = function()
  i = i % #tokens + 1
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[i] })
end
