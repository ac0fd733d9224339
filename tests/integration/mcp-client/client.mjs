// client.mjs - drives Berth's /mcp with the official MCP SDK client (v1,
// 2025 era), for tests/integration/test_mcp.sh.
//
//   node client.mjs --url URL --key sk-... [--session ID] [--version V]
//                   STEP...
//
// Steps run in order; each prints one line, "OK <step> <detail>" or
// "ERR <step> <message>", and the exit status is 1 when any step failed
// (0 otherwise), so the shell test can tell which observation broke.
//   connect        Client.connect(): initialize + notifications/initialized,
//                  or, with --session, resume that session (no initialize)
//   session        print the session id the server issued
//   list           tools/list (all pages); detail: the tool names
//   call:NAME      tools/call NAME with {}; detail: the first text content
//   ping           ping
//   terminate      DELETE /mcp (ends the session)
//   close          close the transport (the session stays on the server)
//
// The API key goes in an Authorization header through requestInit, the way
// a user configures any MCP client with a static bearer token. Nothing here
// prints the key.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

function parseArgs(argv) {
	const o = { steps: [] };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--url' || a === '--key' || a === '--session' || a === '--version') {
			if (i + 1 >= argv.length) {
				throw new Error(`${a} needs a value`);
			}
			o[a.slice(2)] = argv[++i];
		} else {
			o.steps.push(a);
		}
	}
	if (!o.url || !o.key) {
		throw new Error('usage: client.mjs --url URL --key KEY [--session ID] [--version V] STEP...');
	}
	return o;
}

// One line, short, for the test's output.
function oneLine(s) {
	s = String(s).replace(/[\r\n]+/g, ' ');
	return s.length > 200 ? s.slice(0, 197) + '...' : s;
}

async function main() {
	const o = parseArgs(process.argv.slice(2));
	const transport = new StreamableHTTPClientTransport(new URL(o.url), {
		requestInit: { headers: { Authorization: `Bearer ${o.key}` } },
		sessionId: o.session,
	});
	if (o.version) {
		transport.setProtocolVersion(o.version);
	}
	const client = new Client({ name: 'berth-test-client', version: '1.0.0' });
	let failures = 0;

	const steps = {
		async connect() {
			await client.connect(transport);
			return o.session ? `resumed ${o.session.slice(0, 6)}...`
				: `protocol ${transport.protocolVersion ?? '?'} server ${client.getServerVersion()?.name ?? '?'}`;
		},
		async session() {
			if (!transport.sessionId) {
				throw new Error('no Mcp-Session-Id was issued');
			}
			return transport.sessionId;
		},
		async list() {
			const names = [];
			let cursor;
			do {
				const r = await client.listTools(cursor ? { cursor } : {});
				for (const t of r.tools) {
					if (typeof t.description !== 'string' || t.description === '') {
						throw new Error(`tool ${t.name} has no description`);
					}
					names.push(t.name);
				}
				cursor = r.nextCursor;
			} while (cursor);
			return names.join(',');
		},
		async ping() {
			await client.ping();
			return 'pong';
		},
		async terminate() {
			await transport.terminateSession();
			return 'session ended';
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
			console.log(`ERR ${step} ${oneLine(e?.message ?? e)}`);
		}
	}
	// Without a close the transport's timers could keep node alive.
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
