// client-stdio.mjs - drives `berth proxy` with the official MCP SDK client
// (v1) over stdio, for tests/integration/test_cli_login.sh.
//
//   node client-stdio.mjs --berth PATH_TO_BERTH --server SERVER STEP...
//
// The SDK launches `berth proxy SERVER` itself (StdioClientTransport) with
// this process's environment (HOME, XDG_CONFIG_HOME: where the session
// token is), exactly as an MCP client configured with a command would.
// Steps print "OK <step> <detail>" or "ERR <step> <message>"; exit 1 when
// any step failed.
//   connect        initialize + notifications/initialized
//   list           tools/list (all pages); detail: the tool names
//   call:NAME      tools/call NAME with {}; detail: the text content
//   ping           ping
//   sleep:MS       wait MS milliseconds (the test restarts the server)
//   close          close the transport (berth proxy sees EOF)

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

function oneLine(s) {
	s = String(s).replace(/[\r\n]+/g, ' ');
	return s.length > 200 ? s.slice(0, 197) + '...' : s;
}

async function main() {
	const o = { steps: [] };
	const argv = process.argv.slice(2);
	for (let i = 0; i < argv.length; i++) {
		if (argv[i] === '--berth' || argv[i] === '--server') {
			o[argv[i].slice(2)] = argv[++i];
		} else {
			o.steps.push(argv[i]);
		}
	}
	if (!o.berth || !o.server) {
		throw new Error('usage: client-stdio.mjs --berth PATH --server SERVER STEP...');
	}
	const transport = new StdioClientTransport({
		command: o.berth,
		args: ['proxy', o.server],
		env: { ...process.env },
		stderr: 'inherit',
	});
	const client = new Client({ name: 'berth-stdio-test-client', version: '1.0.0' });
	let failures = 0;
	for (const step of o.steps) {
		try {
			let detail;
			if (step === 'connect') {
				await client.connect(transport);
				detail = `server ${client.getServerVersion()?.name ?? '?'}`;
			} else if (step === 'list') {
				const names = [];
				let cursor;
				do {
					const r = await client.listTools(cursor ? { cursor } : {});
					names.push(...r.tools.map((t) => t.name));
					cursor = r.nextCursor;
				} while (cursor);
				detail = names.join(',');
			} else if (step === 'ping') {
				await client.ping();
				detail = 'pong';
			} else if (step.startsWith('sleep:')) {
				await new Promise((r) => setTimeout(r, Number(step.slice(6))));
				detail = 'slept';
			} else if (step.startsWith('call:')) {
				const r = await client.callTool({ name: step.slice(5), arguments: {} });
				const text = (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join(' ');
				if (r.isError) {
					throw new Error(`isError: ${text}`);
				}
				detail = text;
			} else if (step === 'close') {
				await client.close();
				detail = 'closed';
			} else {
				throw new Error(`unknown step ${step}`);
			}
			console.log(`OK ${step} ${oneLine(detail)}`);
		} catch (e) {
			failures++;
			console.log(`ERR ${step} ${oneLine(e?.message ?? e)}`);
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
