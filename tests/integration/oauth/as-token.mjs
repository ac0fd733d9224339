// as-token.mjs - gets an access token from as.mjs the way an MCP client
// does: authorization code with PKCE (S256) and a resource indicator, the
// login and consent pages answered by interact.mjs. Prints the token.
//
//   node as-token.mjs --issuer URL --redirect URL --resource URL
//                     [--client mcp-client] [--scope mcp] [--login alice]

import crypto from 'node:crypto';
import { interact } from './interact.mjs';

function arg(name, dflt) {
	const i = process.argv.lastIndexOf(`--${name}`);
	if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
	if (dflt === undefined) throw new Error(`--${name} is required`);
	return dflt;
}

const issuer = arg('issuer');
const redirect = arg('redirect');
const resource = arg('resource');
const client = arg('client', 'mcp-client');
const scope = arg('scope', 'mcp');
const login = arg('login', 'alice');

const verifier = crypto.randomBytes(32).toString('base64url');
const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
const state = crypto.randomBytes(8).toString('hex');
const auth = new URL('/auth', issuer);
for (const [k, v] of Object.entries({
	client_id: client,
	response_type: 'code',
	redirect_uri: redirect,
	scope,
	state,
	resource,
	code_challenge: challenge,
	code_challenge_method: 'S256',
})) {
	auth.searchParams.set(k, v);
}
const back = await interact(auth, redirect, login);
if (back.searchParams.get('state') !== state) throw new Error(`state mismatch: ${back}`);
const code = back.searchParams.get('code');
if (!code) throw new Error(`no code: ${back}`);
const res = await fetch(new URL('/token', issuer), {
	method: 'POST',
	headers: { 'content-type': 'application/x-www-form-urlencoded' },
	body: new URLSearchParams({
		grant_type: 'authorization_code',
		code,
		redirect_uri: redirect,
		client_id: client,
		code_verifier: verifier,
		resource,
	}).toString(),
});
const tok = await res.json();
if (!res.ok || !tok.access_token) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(tok)}`);
process.stdout.write(`${tok.access_token}\n`);
