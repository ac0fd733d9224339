// client-v2.mjs - drives Berth's /mcp with the official MCP SDK v2 client
// (@modelcontextprotocol/client, both eras), for
// tests/integration/test_mcp_v2.sh.
//
//   node client-v2.mjs --url URL --key sk-... --mode auto|legacy|VERSION
//                      STEP...
//
// --mode is ClientOptions.versionNegotiation.mode: 'auto' (probe with
// server/discover, fall back to initialize), 'legacy' (plain 2025
// initialize), or a protocol version such as 2026-07-28, which becomes
// {pin: VERSION} (modern era at exactly that revision, no fallback).
//
// Steps run in order; each prints one line, "OK <step> <detail>" or
// "ERR <step> <message>", and the exit status is 1 when any step failed
// (0 otherwise), so the shell test can tell which observation broke.
//   connect        Client.connect(); detail: era, protocol version, server
//   era            the negotiated era and version ("modern 2026-07-28")
//   session        the Mcp-Session-Id the transport holds, or "none"
//   list           tools/list (all pages); detail: the tool names
//   call:NAME      tools/call NAME with {}; detail: the first text content
//   quiet          no error reached Client.onerror (the SDK reports there
//                  what it rejects without failing a call: a malformed
//                  message, a result that does not parse, ...)
//   wire           what went over HTTP so far, one request per entry:
//                  "<body method>[<status>] v=<MCP-Protocol-Version header>
//                  m=<Mcp-Method> n=<Mcp-Name> meta=<_meta protocolVersion>
//                  sid=<yes|no>", joined by "; " ("-" for an absent value)
//   close          Client.close()
//
// The API key goes in an Authorization header through requestInit, as a
// user configures any MCP client with a static bearer token. The wire
// record comes from a fetch wrapper (the transport's documented `fetch`
// option) that only looks: it never prints the Authorization header.

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

function parseArgs(argv) {
	const o = { steps: [], mode: 'auto' };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--url' || a === '--key' || a === '--mode') {
			if (i + 1 >= argv.length) {
				throw new Error(`${a} needs a value`);
			}
			o[a.slice(2)] = argv[++i];
		} else {
			o.steps.push(a);
		}
	}
	if (!o.url || !o.key) {
		throw new Error('usage: client-v2.mjs --url URL --key KEY [--mode auto|legacy|VERSION] STEP...');
	}
	return o;
}

// One line, short, for the test's output.
function oneLine(s) {
	s = String(s).replace(/[\r\n]+/g, ' ');
	return s.length > 400 ? s.slice(0, 397) + '...' : s;
}

// The HTTP requests the transport made: one record each.
const wire = [];

function headerOf(init, name) {
	const h = new Headers(init?.headers ?? {});
	return h.get(name);
}

async function recordingFetch(url, init) {
	const rec = { http: init?.method ?? 'GET' };
	if (typeof init?.body === 'string') {
		try {
			const m = JSON.parse(init.body);
			rec.method = m.method ?? (m.result !== undefined || m.error !== undefined ? 'response' : '?');
			rec.meta = m.params?._meta?.['io.modelcontextprotocol/protocolVersion'];
		} catch {
			rec.method = 'unparsable';
		}
	} else {
		rec.method = rec.http;
	}
	rec.version = headerOf(init, 'mcp-protocol-version');
	rec.mcpMethod = headerOf(init, 'mcp-method');
	rec.mcpName = headerOf(init, 'mcp-name');
	rec.sid = headerOf(init, 'mcp-session-id') !== null;
	wire.push(rec);
	const res = await fetch(url, init);
	rec.status = res.status;
	return res;
}

function wireLine() {
	return wire.map((r) =>
		`${r.method}[${r.status ?? '?'}] v=${r.version ?? '-'} m=${r.mcpMethod ?? '-'} n=${r.mcpName ?? '-'}` +
		` meta=${r.meta ?? '-'} sid=${r.sid ? 'yes' : 'no'}`).join('; ');
}

function negotiation(mode) {
	if (mode === 'auto' || mode === 'legacy') {
		return { mode };
	}
	return { mode: { pin: mode } };
}

async function main() {
	const o = parseArgs(process.argv.slice(2));
	const transport = new StreamableHTTPClientTransport(new URL(o.url), {
		requestInit: { headers: { Authorization: `Bearer ${o.key}` } },
		fetch: recordingFetch,
	});
	const client = new Client(
		{ name: 'berth-test-client-v2', version: '1.0.0' },
		{ versionNegotiation: negotiation(o.mode) },
	);
	const sdkErrors = [];
	client.onerror = (e) => sdkErrors.push(oneLine(e?.message ?? e));
	let failures = 0;

	const era = () => `${client.getProtocolEra() ?? '?'} ${client.getNegotiatedProtocolVersion() ?? '?'}`;
	const steps = {
		async connect() {
			await client.connect(transport);
			return `${era()} server ${client.getServerVersion()?.name ?? '?'}`;
		},
		async era() {
			return era();
		},
		async session() {
			return transport.sessionId ?? 'none';
		},
		async list() {
			const r = await client.listTools();
			const names = [];
			for (const t of r.tools) {
				if (typeof t.description !== 'string' || t.description === '') {
					throw new Error(`tool ${t.name} has no description`);
				}
				if (t.inputSchema?.type !== 'object') {
					throw new Error(`tool ${t.name}: inputSchema is not a JSON Schema object`);
				}
				names.push(t.name);
			}
			return names.join(',');
		},
		async quiet() {
			if (sdkErrors.length > 0) {
				throw new Error(`Client.onerror: ${sdkErrors.join(' | ')}`);
			}
			return 'no errors reported';
		},
		async wire() {
			return wireLine();
		},
		async close() {
			await client.close();
			return 'closed';
		},
	};

	for (const step of o.steps) {
		try {
			let detail;
			if (step.startsWith('call:')) {
				const name = step.slice(5);
				const r = await client.callTool({ name, arguments: {} });
				const text = (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join(' ');
				if (r.isError) {
					throw new Error(`isError: ${text}`);
				}
				detail = text;
			} else if (steps[step]) {
				detail = await steps[step]();
			} else {
				throw new Error(`unknown step ${step}`);
			}
			console.log(`OK ${step} ${oneLine(detail)}`);
		} catch (e) {
			failures++;
			const data = e?.data !== undefined ? ` data=${JSON.stringify(e.data)}` : '';
			console.log(`ERR ${step} ${oneLine((e?.message ?? e) + data)}`);
		}
	}
	try {
		await transport.close();
	} catch {
		// already closed
	}
	process.exit(failures > 0 ? 1 : 0);
}

main().catch((e) => {
	console.log(`ERR args ${oneLine(e?.message ?? e)}`);
	process.exit(2);
});
