/*
 * http.c - see http.h.
 */
#include "http.h"

#include <stdbool.h>

CURL *
http_easy(const struct http_opts *o)
{
	long connect_ms = o->connect_timeout_ms;
	bool ok;
	CURL *c;

	if (o->url == NULL || o->timeout_ms <= 0 ||
	    (c = curl_easy_init()) == NULL)
		return NULL;
	if (connect_ms <= 0 || connect_ms > o->timeout_ms)
		connect_ms = o->timeout_ms;
	ok = curl_easy_setopt(c, CURLOPT_URL, o->url) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") ==
	        CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") ==
	        CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms) ==
	        CURLE_OK &&
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) ==
	        CURLE_OK &&
	    (o->max_bytes <= 0 ||
	        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, o->max_bytes) ==
	            CURLE_OK) &&
	    (o->user_agent == NULL ||
	        curl_easy_setopt(c, CURLOPT_USERAGENT, o->user_agent) ==
	            CURLE_OK) &&
	    (o->errbuf == NULL ||
	        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, o->errbuf) ==
	            CURLE_OK);
	if (!ok) {
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
}
