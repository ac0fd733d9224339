-- mcp.lua - wrk script for bench/mcp.sh: one authenticated MCP request of
-- the 2026 era (protocol 2026-07-28, no session), posted over and over.
--
-- Environment (set by bench/mcp.sh):
--   BERTH_BENCH_KEY     the API key (sent as "Authorization: Bearer ...")
--   BERTH_BENCH_METHOD  "tools/list" or "tools/call"
--   BERTH_BENCH_TOOL    the tool of tools/call (station_status)
--   BERTH_BENCH_EXPECT  a string every 200 body must contain
--                       ('"result":' for Berth, the baseline's own body for
--                       the trivial responder)
--
-- What shared/mcp.c requires of a 2026-era request: MCP-Protocol-Version
-- 2026-07-28 equal to params._meta["io.modelcontextprotocol/protocolVersion"],
-- Mcp-Method equal to the body's method, Mcp-Name equal to params.name for
-- tools/call; Content-Type application/json; an Accept listing both
-- application/json and text/event-stream (as the transport asks of clients).
--
-- Every response is checked (response()): a non-200 status, a body without
-- BERTH_BENCH_EXPECT, or a tool result with "isError":true counts as bad.
-- done() prints one line that bench/mcp.sh reads:
--   CHECK responses=N non200=N unexpected=N
-- wrk runs one Lua state per thread, so the counters are summed over the
-- threads kept by setup().

local key = os.getenv("BERTH_BENCH_KEY") or ""
local method = os.getenv("BERTH_BENCH_METHOD") or "tools/list"
local tool = os.getenv("BERTH_BENCH_TOOL") or "station_status"
local expect = os.getenv("BERTH_BENCH_EXPECT") or '"result":'

-- BERTH_BENCH_SESSION, when set, makes the requests of the 2025 era
-- instead: the Mcp-Session-Id of a session bench/mcp.sh initialized,
-- MCP-Protocol-Version 2025-11-25, no _meta, no Mcp-Method/Mcp-Name.
local session = os.getenv("BERTH_BENCH_SESSION") or ""

local meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
	.. '"io.modelcontextprotocol/clientInfo":{"name":"berth-bench","version":"1"},'
	.. '"io.modelcontextprotocol/clientCapabilities":{}}'

local params
if session ~= "" then
	if method == "tools/call" then
		params = '{"name":"' .. tool .. '","arguments":{}}'
	else
		params = '{}'
	end
elseif method == "tools/call" then
	params = '{"name":"' .. tool .. '","arguments":{},' .. meta .. '}'
else
	params = '{' .. meta .. '}'
end

wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"' .. method .. '","params":' .. params .. '}'
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
if session ~= "" then
	wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
	wrk.headers["Mcp-Session-Id"] = session
else
	wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
	wrk.headers["Mcp-Method"] = method
	if method == "tools/call" then
		wrk.headers["Mcp-Name"] = tool
	end
end

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	responses = 0
	non200 = 0
	unexpected = 0
end

function response(status, headers, body)
	responses = responses + 1
	if status ~= 200 then
		non200 = non200 + 1
	elseif body == nil or not string.find(body, expect, 1, true)
		or string.find(body, '"isError":true', 1, true) then
		unexpected = unexpected + 1
	end
end

function done(summary, latency, requests)
	local r, n, u = 0, 0, 0
	for _, t in ipairs(threads) do
		r = r + t:get("responses")
		n = n + t:get("non200")
		u = u + t:get("unexpected")
	end
	io.write(string.format("CHECK responses=%d non200=%d unexpected=%d\n", r, n, u))
end
