// client-agents.mjs - drives agent_<name> tools on Berth's /mcp with the
// official MCP SDK client (v1, 2025 era), for
// tests/integration/test_mcp_agents.sh.
//
//   node client-agents.mjs --url URL --key sk-... STEP...
//
// Steps run in order on one session; each prints one line,
// "OK <step> <JSON detail>" or "ERR <step> <JSON detail>" (<step>: its kind
// and tool name, white space as _), and the exit
// status is 1 when any step printed ERR. A tool result with isError is
// OK (the test decides what it expects); only a thrown error is ERR.
//   list                 tools/list, every page: {"names": [...]}
//   call:NAME:ARGS       tools/call NAME with ARGS (JSON) and an
//                        onprogress handler: {"isError", "text",
//                        "structured", "progress": [messages]}; a
//                        JSON-RPC error: ERR {"code", "message"}
//   abort:NAME:ARGS:WORD tools/call as above, aborted (AbortController:
//                        the SDK sends notifications/cancelled) at the
//                        first progress message containing WORD:
//                        {"aborted": true, "progress": [...]}
//
// The API key goes in an Authorization header through requestInit, as a
// user configures any MCP client with a static bearer token. Nothing here
// prints the key.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

function parseArgs(argv) {
	const o = { steps: [] };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--url' || a === '--key') {
			if (i + 1 >= argv.length) {
				throw new Error(`${a} needs a value`);
			}
			o[a.slice(2)] = argv[++i];
		} else {
			o.steps.push(a);
		}
	}
	if (!o.url || !o.key) {
		throw new Error('usage: client-agents.mjs --url URL --key KEY STEP...');
	}
	return o;
}

// "call:NAME:ARGS" -> [NAME, ARGS-object]; ARGS is JSON (may hold ':').
function nameAndArgs(rest) {
	const i = rest.indexOf(':');
	if (i < 0) {
		return [rest, {}];
	}
	return [rest.slice(0, i), JSON.parse(rest.slice(i + 1))];
}

function summary(r, progress) {
	return {
		isError: r.isError === true,
		text: (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join(' '),
		structured: r.structuredContent ?? null,
		progress,
	};
}

async function main() {
	const o = parseArgs(process.argv.slice(2));
	const transport = new StreamableHTTPClientTransport(new URL(o.url), {
		requestInit: { headers: { Authorization: `Bearer ${o.key}` } },
	});
	const client = new Client({ name: 'berth-agents-test', version: '1.0.0' });
	let failures = 0;
	await client.connect(transport);

	for (const step of o.steps) {
		let detail;
		let ok = true;
		try {
			if (step === 'list') {
				const names = [];
				let cursor;
				do {
					const r = await client.listTools(cursor ? { cursor } : {});
					for (const t of r.tools) {
						names.push(t.name);
					}
					cursor = r.nextCursor;
				} while (cursor);
				detail = { names };
			} else if (step.startsWith('call:')) {
				const [name, args] = nameAndArgs(step.slice(5));
				const progress = [];
				const r = await client.callTool({ name, arguments: args }, undefined, {
					onprogress: (p) => progress.push(p.message ?? String(p.progress)),
					timeout: 120000,
				});
				detail = summary(r, progress);
			} else if (step.startsWith('abort:')) {
				const rest = step.slice(6);
				const word = rest.slice(rest.lastIndexOf(':') + 1);
				const [name, args] = nameAndArgs(rest.slice(0, rest.lastIndexOf(':')));
				const progress = [];
				const ac = new AbortController();
				try {
					const r = await client.callTool({ name, arguments: args }, undefined, {
						signal: ac.signal,
						timeout: 120000,
						onprogress: (p) => {
							progress.push(p.message ?? String(p.progress));
							if ((p.message ?? '').includes(word)) {
								ac.abort('the test gives up');
							}
						},
					});
					ok = false;
					detail = { aborted: false, result: summary(r, progress) };
				} catch (e) {
					if (!ac.signal.aborted) {
						throw e;
					}
					detail = { aborted: true, progress };
				}
			} else {
				throw new Error(`unknown step ${step}`);
			}
		} catch (e) {
			ok = false;
			detail = { code: e?.code ?? null, message: String(e?.message ?? e) };
		}
		if (!ok) {
			failures++;
		}
		console.log(`${ok ? 'OK' : 'ERR'} ${step.split(':').slice(0, 2).join(':').replace(/\s/g, '_')} ${JSON.stringify(detail)}`);
	}
	try {
		await transport.close();
	} catch {
		// already closed
	}
	process.exit(failures > 0 ? 1 : 0);
}

main().catch((e) => {
	console.log(`ERR args ${JSON.stringify({ message: String(e?.message ?? e) })}`);
	process.exit(2);
});
