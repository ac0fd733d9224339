/*
 * fuzz_lighthouse.c - protobuf-c decoding of every message berthd accepts
 * from Lighthouse: ManagementMessage (AuthResult, Disconnect, every request
 * and send_run_response inside it) and HeartbeatResponse. What decodes must
 * pack again to the size it reports. It need not decode again: protobuf-c
 * 1.4 keeps some malformed unknown fields (wire type 7) that it then cannot
 * read back (corpus file d12f8386...); berthd never re-packs what it
 * received, so that is not a berthd bug.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lighthouse.pb-c.h"

static void
fuzz_roundtrip_mm(const Lighthouse__V1__ManagementMessage *m)
{
	size_t len = lighthouse__v1__management_message__get_packed_size(m);
	Lighthouse__V1__ManagementMessage *again;
	uint8_t *buf = malloc(len ? len : 1);

	if (buf == NULL)
		return;
	if (lighthouse__v1__management_message__pack(m, buf) != len)
		abort();
	again = lighthouse__v1__management_message__unpack(NULL, len, buf);
	if (again != NULL)
		lighthouse__v1__management_message__free_unpacked(again, NULL);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Lighthouse__V1__ManagementMessage *m;
	Lighthouse__V1__HeartbeatResponse *h;

	m = lighthouse__v1__management_message__unpack(NULL, size, data);
	if (m != NULL) {
		fuzz_roundtrip_mm(m);
		lighthouse__v1__management_message__free_unpacked(m, NULL);
	}
	h = lighthouse__v1__heartbeat_response__unpack(NULL, size, data);
	if (h != NULL)
		lighthouse__v1__heartbeat_response__free_unpacked(h, NULL);
	return 0;
}
