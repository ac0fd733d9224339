// as.mjs - a real OAuth 2.1 authorization server (oidc-provider) standing
// in for CloudShip in tests/integration/test_oauth.sh.
//
//   node as.mjs --port N --resource URL --redirect URL [--secret S]
//
// Issuer http://127.0.0.1:N. Authorization code with PKCE (S256, required
// for the public client), resource indicators (RFC 8707) with opaque access
// tokens, so a resource server must introspect them (RFC 7662), and
// revocation. Clients:
//   berth        confidential (client_secret_basic): Berth's introspection
//   mcp-client   public (PKCE): the MCP client; access tokens live 600 s
//   short-client public (PKCE): access tokens live 4 s (the expiry tests)
// Resources: the Berth /mcp URL (--resource) and https://other.example/mcp
// (a token for another resource), both with scopes "mcp other".
// Every access token carries org_id (org-test; org-other for logins that
// start with "other") and email in its introspection answer.
// GET /test/count answers {"introspections": N}; each introspection is
// also logged as one "INTROSPECT" line on stdout.

import http from 'node:http';
import Provider, { errors } from 'oidc-provider';

function arg(name, dflt) {
	const i = process.argv.lastIndexOf(`--${name}`);
	if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
	if (dflt === undefined) throw new Error(`--${name} is required`);
	return dflt;
}

const port = Number(arg('port'));
const resource = arg('resource');
const redirect = arg('redirect');
const secret = arg('secret', 'berth-introspection-secret');
const other = 'https://other.example/mcp';
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
	clients: [
		{
			client_id: 'berth',
			client_secret: secret,
			token_endpoint_auth_method: 'client_secret_basic',
			grant_types: [],
			response_types: [],
			redirect_uris: [],
		},
		...['mcp-client', 'short-client'].map((id) => ({
			client_id: id,
			token_endpoint_auth_method: 'none',
			grant_types: ['authorization_code', 'refresh_token'],
			response_types: ['code'],
			redirect_uris: [redirect],
		})),
	],
	scopes: ['openid', 'offline_access', 'mcp', 'other'],
	pkce: { required: () => true },
	cookies: { keys: ['berth-test-cookie-key'] },
	findAccount: async (_ctx, id) => ({
		accountId: id,
		claims: async () => ({ sub: id, email: `${id}@example.com` }),
	}),
	extraTokenClaims: async (_ctx, token) => {
		if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
		const id = token.accountId;
		return { org_id: id.startsWith('other') ? 'org-other' : 'org-test', email: `${id}@example.com` };
	},
	features: {
		devInteractions: { enabled: true },
		introspection: { enabled: true },
		revocation: { enabled: true },
		resourceIndicators: {
			enabled: true,
			defaultResource: () => undefined,
			useGrantedResource: () => true,
			getResourceServerInfo: (_ctx, indicator, client) => {
				if (indicator !== resource && indicator !== other) throw new errors.InvalidTarget();
				return {
					scope: 'mcp other',
					audience: indicator,
					accessTokenFormat: 'opaque',
					accessTokenTTL: client.clientId === 'short-client' ? 4 : 600,
				};
			},
		},
	},
});
provider.on('server_error', (_ctx, err) => console.log(`SERVER_ERROR ${err.stack}`));

let introspections = 0;
provider.on('introspection.error', (_ctx, err) => console.log(`INTROSPECT_ERROR ${err.message}`));
const callback = provider.callback();
const server = http.createServer((req, res) => {
	if (req.url === '/test/count') {
		res.writeHead(200, { 'content-type': 'application/json' });
		res.end(JSON.stringify({ introspections }));
		return;
	}
	if (req.url.startsWith('/token/introspection')) {
		introspections++;
		console.log(`INTROSPECT ${introspections} auth=${req.headers.authorization ? 'basic' : 'none'}`);
	}
	callback(req, res);
});
server.listen(port, '127.0.0.1', () => console.log(`READY ${issuer}`));
