-- status.lua - a wrk script for tests/integration/test_faults.sh: tallies
-- the status code of every response and prints, at the end, one line that
-- the test parses:
--
--   WRK_RESULT requests=N s200=N s503=N ... berth503=N retry_after=N
--     tail200=N connect=N read=N write=N timeout=N status_errors=N
--     duration_s=F
--
-- sNNN     responses with status NNN
-- berth503 the 503 that Berth itself sent: they carry its X-Request-Id
--          header (a 503 made by nginx, its @berth_503 page, has none)
-- retry_after  the 503 that carried a Retry-After header
-- tail200  200 answers after each thread's last other answer, summed: the
--          load served once a fault was over
-- connect, read, write, timeout  wrk's socket errors
-- status_errors  wrk's own count of responses >= 400
--
-- One key=value per word, plain integers (duration_s a decimal), so the
-- shell reads it with a loop over the words. Request headers come from
-- the command line (wrk -H ...).

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	counts = {}
	berth503 = 0
	retry_after = 0
	tail200 = 0
end

function response(status, headers, body)
	counts[status] = (counts[status] or 0) + 1
	if status == 200 then
		tail200 = tail200 + 1
	else
		tail200 = 0
	end
	if status == 503 then
		for k, _ in pairs(headers) do
			local name = string.lower(k)
			if name == "x-request-id" then
				berth503 = berth503 + 1
			elseif name == "retry-after" then
				retry_after = retry_after + 1
			end
		end
	end
end

function done(summary, latency, requests)
	local total = {}
	local b503, ra, tail = 0, 0, 0
	for _, t in ipairs(threads) do
		local c = t:get("counts")
		for k, v in pairs(c) do
			total[k] = (total[k] or 0) + v
		end
		b503 = b503 + (t:get("berth503") or 0)
		ra = ra + (t:get("retry_after") or 0)
		tail = tail + (t:get("tail200") or 0)
	end
	local keys = {}
	for k, _ in pairs(total) do
		table.insert(keys, k)
	end
	table.sort(keys)
	local out = { "WRK_RESULT", "requests=" .. summary.requests }
	for _, k in ipairs(keys) do
		table.insert(out, string.format("s%d=%d", k, total[k]))
	end
	local e = summary.errors
	table.insert(out, "berth503=" .. b503)
	table.insert(out, "retry_after=" .. ra)
	table.insert(out, "tail200=" .. tail)
	table.insert(out, "connect=" .. e.connect)
	table.insert(out, "read=" .. e.read)
	table.insert(out, "write=" .. e.write)
	table.insert(out, "timeout=" .. e.timeout)
	table.insert(out, "status_errors=" .. e.status)
	table.insert(out, string.format("duration_s=%.2f", summary.duration / 1e6))
	io.write(table.concat(out, " ") .. "\n")
end
