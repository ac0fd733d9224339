// interact.mjs - answers oidc-provider's login and consent pages the way a
// person in a browser would, with fetch: follow the redirects, keep the
// cookies, post the forms, until the authorization server redirects to the
// client's redirect URI. Used by as-token.mjs and oauth-client.mjs.

// A cookie jar of name=value pairs for one host (paths ignored: every
// cookie goes back with every request, which a browser would do for these).
class Jar {
	constructor() {
		this.c = new Map();
	}
	take(res) {
		const list = typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : [];
		for (const line of list) {
			const [pair, ...attrs] = line.split(';');
			const i = pair.indexOf('=');
			if (i < 0) continue;
			const name = pair.slice(0, i).trim();
			const value = pair.slice(i + 1).trim();
			const expired = attrs.some((a) => /^\s*expires=.*1970/i.test(a)) || value === '';
			if (expired) this.c.delete(name);
			else this.c.set(name, value);
		}
	}
	header() {
		return [...this.c].map(([k, v]) => `${k}=${v}`).join('; ');
	}
}

// The form of an interaction page: its action and hidden fields.
function parseForm(html) {
	const m = html.match(/<form[^>]*action="([^"]+)"/);
	if (!m) throw new Error(`no form on the interaction page: ${html.slice(0, 200)}`);
	const fields = {};
	for (const f of html.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
		fields[f[1]] = f[2];
	}
	return { action: m[1].replace(/&amp;/g, '&'), fields };
}

// Follows authorizationUrl through login (as `login`) and consent; returns
// the URL of the final redirect to redirectUri (with code and state).
export async function interact(authorizationUrl, redirectUri, login) {
	const jar = new Jar();
	let url = String(authorizationUrl);
	let method = 'GET';
	let body;
	for (let step = 0; step < 20; step++) {
		if (url.startsWith(redirectUri)) return new URL(url);
		const headers = { cookie: jar.header() };
		if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
		const res = await fetch(url, { method, body, headers, redirect: 'manual' });
		jar.take(res);
		if (res.status >= 300 && res.status < 400) {
			url = new URL(res.headers.get('location'), url).toString();
			method = 'GET';
			body = undefined;
			continue;
		}
		const html = await res.text();
		if (res.status !== 200) throw new Error(`interaction: ${res.status} from ${url}: ${html.slice(0, 300)}`);
		const form = parseForm(html);
		const params = new URLSearchParams(form.fields);
		if (form.fields.prompt === 'login') {
			params.set('login', login);
			params.set('password', 'any');
		}
		url = new URL(form.action, url).toString();
		method = 'POST';
		body = params.toString();
	}
	throw new Error('interaction: too many steps');
}
