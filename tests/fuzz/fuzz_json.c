/* SPDX-License-Identifier: MIT */
/*
 * pvcalls_json_escape() and pvcalls_back_audit_json() on arbitrary bytes.
 * Input: [out_len byte][rest: the string]. Checks: the output is NUL
 * terminated, holds only printable ASCII, never ends inside an escape,
 * decodes back to a prefix of the input (all of it when it fit), and the
 * reported length is what the full output takes. An audit record built
 * from the same bytes formats within 2048 bytes to one line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pvcalls/backend.h>
#include <pvcalls/wire.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexv(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes @s (escaped) into @out; returns its length, or -1 if malformed. */
static long unescape(const char *s, uint8_t *out)
{
	long n = 0;

	while (*s) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || *s == '"')
			return -1;
		if (*s != '\\') {
			out[n++] = (uint8_t)*s++;
			continue;
		}
		s++;
		switch (*s) {
		case '"':
		case '\\':
			out[n++] = (uint8_t)*s++;
			break;
		case 'n':
			out[n++] = '\n';
			s++;
			break;
		case 't':
			out[n++] = '\t';
			s++;
			break;
		case 'r':
			out[n++] = '\r';
			s++;
			break;
		case 'u':
			if (s[1] != '0' || s[2] != '0' || hexv(s[3]) < 0 || hexv(s[4]) < 0)
				return -1;
			out[n++] = (uint8_t)(hexv(s[3]) << 4 | hexv(s[4]));
			s += 5;
			break;
		default:
			return -1;
		}
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t out_len, need, full;
	char *out;
	uint8_t *back;
	long n;

	if (size < 1 || size > 4096)
		return 0;
	out_len = data[0];
	data++;
	size--;
	out = malloc(out_len + 1);
	back = malloc(size + 1);
	full = pvcalls_json_escape(NULL, 0, data, size);
	need = pvcalls_json_escape(out, out_len, data, size);
	if (need != full || need > size * 6)
		abort();
	if (out_len) {
		if (strlen(out) >= out_len)
			abort();
		n = unescape(out, back);
		if (n < 0 || (size_t)n > size || memcmp(back, data, (size_t)n) != 0)
			abort();
		if (need < out_len && (size_t)n != size)
			abort();
	}
	free(out);
	{
		char *big = malloc(full + 1);

		pvcalls_json_escape(big, full + 1, data, size);
		n = unescape(big, back);
		if (n != (long)size || memcmp(back, data, size) != 0)
			abort();
		free(big);
	}
	free(back);

	/* An audit record with guest bytes everywhere they can go. */
	{
		struct pvcalls_back_audit r;
		char line[2048], reason[96];
		int len;

		memset(&r, 0, sizeof(r));
		memcpy(&r, data, size < sizeof(r) ? size : sizeof(r));
		r.has_addr = size & 1;
		r.addr_valid = false;
		r.has_ext = size & 2; /* bools from raw bytes are not bools */
		r.decision = (enum pvcalls_back_decision)(size % 3);
		memset(reason, 0, sizeof(reason));
		memcpy(reason, data, size < sizeof(reason) - 1 ? size : sizeof(reason) - 1);
		r.reason = reason;
		r.time_us %= (int64_t)1 << 50; /* gmtime_r's years stay in range */
		len = pvcalls_back_audit_json(&r, line, sizeof(line));
		if (len <= 0 || line[len - 1] != '\n' || memchr(line, '\n', (size_t)len - 1))
			abort();
	}
	return 0;
}
