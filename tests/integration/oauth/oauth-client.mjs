// oauth-client.mjs - the official MCP SDK client (v1 @modelcontextprotocol/sdk
// or v2 @modelcontextprotocol/client) with its own OAuth support, against
// Berth's /mcp, for tests/integration/test_oauth.sh. No step is done by hand:
//
//   node oauth-client.mjs --sdk v1|v2 --url BERTH/mcp --redirect URL [--login alice]
//
// 1. connect without a token: Berth answers 401 with resource_metadata, and
//    the SDK discovers the protected resource metadata, then the
//    authorization server's metadata, and builds an authorization URL
//    (code + PKCE S256 + resource indicator);
// 2. redirectToAuthorization: interact.mjs answers the login and consent
//    pages like a person in a browser and keeps the code from the redirect;
// 3. finishAuth(code): the SDK redeems the code at the token endpoint;
// 4. connect again with the token, tools/list.
// Prints "OK <step> <detail>" / "ERR <step> <message>" lines, then every
// URL the SDK fetched ("FETCH METHOD URL STATUS"); exit 1 on any ERR.

import { interact } from './interact.mjs';

function arg(name, dflt) {
	const i = process.argv.lastIndexOf(`--${name}`);
	if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
	if (dflt === undefined) throw new Error(`--${name} is required`);
	return dflt;
}

const sdk = arg('sdk', 'v1');
const url = new URL(arg('url'));
const redirect = arg('redirect');
const login = arg('login', 'alice');

let Client, Transport, UnauthorizedError;
if (sdk === 'v1') {
	({ Client } = await import('@modelcontextprotocol/sdk/client/index.js'));
	({ StreamableHTTPClientTransport: Transport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js'));
	({ UnauthorizedError } = await import('@modelcontextprotocol/sdk/client/auth.js'));
} else {
	({ Client, StreamableHTTPClientTransport: Transport, UnauthorizedError } = await import('@modelcontextprotocol/client'));
}

function oneLine(s) {
	s = String(s).replace(/[\r\n]+/g, ' ');
	return s.length > 300 ? s.slice(0, 297) + '...' : s;
}

const fetched = [];
async function recordingFetch(u, init) {
	const res = await fetch(u, init);
	fetched.push(`${init?.method ?? 'GET'} ${u} ${res.status}`);
	return res;
}

// The OAuth client side, in memory: a public client registered at the
// authorization server beforehand (client_id mcp-client, no secret).
class Provider {
	constructor() {
		this.code = undefined;
		this._tokens = undefined;
		this._verifier = undefined;
	}
	get redirectUrl() {
		return redirect;
	}
	get clientMetadata() {
		return {
			client_name: 'berth-oauth-test',
			redirect_uris: [redirect],
			grant_types: ['authorization_code', 'refresh_token'],
			response_types: ['code'],
			token_endpoint_auth_method: 'none',
		};
	}
	clientInformation() {
		return { client_id: 'mcp-client' };
	}
	tokens() {
		return this._tokens;
	}
	saveTokens(t) {
		this._tokens = t;
		console.log(`OK token type=${t.token_type} scope=${t.scope ?? ''} expires_in=${t.expires_in ?? ''}`);
	}
	saveCodeVerifier(v) {
		this._verifier = v;
	}
	codeVerifier() {
		return this._verifier;
	}
	// v2 keeps what discovery found, to check the authorization response's
	// issuer (RFC 9207) against it on the callback leg.
	saveDiscoveryState(s) {
		this._discovery = s;
	}
	discoveryState() {
		return this._discovery;
	}
	async redirectToAuthorization(authUrl) {
		const p = authUrl.searchParams;
		console.log(`OK authorize ${authUrl.origin}${authUrl.pathname} method=${p.get('code_challenge_method')} resource=${p.get('resource')} scope=${p.get('scope')}`);
		const back = await interact(authUrl, redirect, login);
		this.callback = back.searchParams;
		this.code = back.searchParams.get('code');
		if (!this.code) throw new Error(`no code in ${back}`);
		console.log(`OK interaction login=${login} code received`);
	}
}

let failed = false;
const provider = new Provider();
const opts = { authProvider: provider, fetch: recordingFetch };
try {
	let transport = new Transport(url, opts);
	let client = new Client({ name: 'berth-oauth-test', version: '1.0.0' });
	try {
		await client.connect(transport);
		throw new Error('connected without a token');
	} catch (e) {
		if (!(e instanceof UnauthorizedError)) throw e;
		console.log(`OK unauthorized ${oneLine(e.message)}`);
	}
	if (!provider.code) throw new Error('no authorization code after the 401');
	// v1 takes the code; v2 the callback's parameters (code, state, iss).
	await transport.finishAuth(sdk === 'v1' ? provider.code : provider.callback);
	await transport.close().catch(() => {});
	transport = new Transport(url, opts);
	client = new Client({ name: 'berth-oauth-test', version: '1.0.0' });
	await client.connect(transport);
	console.log('OK connect with token');
	const r = await client.listTools();
	console.log(`OK list ${r.tools.map((t) => t.name).join(',')}`);
	await client.close();
} catch (e) {
	failed = true;
	console.log(`ERR ${oneLine(e.stack ?? e)}`);
}
for (const f of fetched) console.log(`FETCH ${f}`);
process.exit(failed ? 1 : 0);
