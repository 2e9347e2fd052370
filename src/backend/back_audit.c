/* SPDX-License-Identifier: MIT */
/*
 * Audit: one record per command-ring request, handed to the caller's sink
 * when the response is written, and a JSON Lines formatter for it.
 *
 * Everything the guest chose is either a number (req_id, ids, cmd, len)
 * or the raw address bytes of a request we could not decode; those go
 * through pvcalls_json_escape(), which reads bytes as Latin-1 so any input
 * yields valid JSON.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <pvcalls/wire_ext.h>

#include "backend/back_priv.h"
#include "common/errno_table.h"

size_t pvcalls_json_escape(char *out, size_t out_len, const void *in, size_t in_len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = in;
	size_t need = 0, o = 0;
	bool room = out && out_len;

	for (size_t i = 0; i < in_len; i++) {
		char e[7];
		size_t n;
		uint8_t c = p[i];

		if (c == '"' || c == '\\') {
			e[0] = '\\';
			e[1] = (char)c;
			n = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			e[0] = (char)c;
			n = 1;
		} else if (c == '\n' || c == '\t' || c == '\r') {
			e[0] = '\\';
			e[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
			n = 2;
		} else {
			/* Controls, DEL and bytes >= 0x80 (as U+0080..U+00FF). */
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			n = 6;
		}
		if (room && o + n < out_len) {
			memcpy(out + o, e, n);
			o += n;
		} else {
			room = false; /* stop writing: never half an escape */
		}
		need += n;
	}
	if (out && out_len)
		out[o] = 0;
	return need;
}

/* Appends with snprintf semantics; *off may grow beyond len (overflow). */
#define PUT(...)                                                                            \
	do {                                                                                \
		int _n = snprintf(buf + (off < len ? off : len), off < len ? len - off : 0, \
				  __VA_ARGS__);                                             \
		if (_n < 0)                                                                 \
			return -EINVAL;                                                     \
		off += (size_t)_n;                                                          \
	} while (0)

static size_t put_str(char *buf, size_t len, size_t off, const void *s, size_t n)
{
	if (off < len)
		return off + pvcalls_json_escape(buf + off, len - off, s, n);
	return off + pvcalls_json_escape(NULL, 0, s, n);
}

int pvcalls_back_audit_json(const struct pvcalls_back_audit *r, char *buf, size_t len)
{
	static const char *const dec[] = { "none", "allow", "deny" };
	time_t sec;
	long us;
	char ts[32], a[INET6_ADDRSTRLEN];
	const char *name;
	struct tm tm;
	size_t off = 0;

	if (!r || !buf)
		return -EINVAL;
	name = pvcalls_cmd_name(r->cmd);
	sec = (time_t)(r->time_us / 1000000);
	us = (long)(r->time_us % 1000000);
	if (us < 0) {
		us += 1000000;
		sec--;
	}
	gmtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	PUT("{\"time\":\"%s.%06ldZ\",\"frontend\":%" PRIu32 ",\"dev\":%" PRIu32
	    ",\"req_id\":%" PRIu32 ",\"cmd\":\"",
	    ts, us, r->domid, r->devid, r->req_id);
	off = put_str(buf, len, off, name, strlen(name));
	PUT("\"");
	if (!strcmp(name, "UNKNOWN"))
		PUT(",\"cmd_num\":%" PRIu32, r->cmd);
	PUT(",\"id\":%" PRIu64, r->id);
	if (r->cmd == PVCALLS_WIRE_ACCEPT)
		PUT(",\"id_new\":%" PRIu64, r->id_new);
	if (r->has_addr && r->addr_valid && r->addr.sin_family == AF_INET6) {
		inet_ntop(AF_INET6, &r->addr6.sin6_addr, a, sizeof(a));
		PUT(",\"family\":\"inet6\",\"addr\":\"%s\",\"port\":%u", a,
		    ntohs(r->addr6.sin6_port));
		if (r->addr6.sin6_scope_id)
			PUT(",\"scope_id\":%" PRIu32, (uint32_t)r->addr6.sin6_scope_id);
	} else if (r->has_addr && r->addr_valid) {
		inet_ntop(AF_INET, &r->addr.sin_addr, a, sizeof(a));
		PUT(",\"family\":\"inet\",\"addr\":\"%s\",\"port\":%u", a, ntohs(r->addr.sin_port));
	} else if (r->has_addr) {
		size_t n = r->addr_len < sizeof(r->addr_raw) ? r->addr_len : sizeof(r->addr_raw);

		PUT(",\"addr_len\":%" PRIu32 ",\"addr_raw\":\"", r->addr_len);
		off = put_str(buf, len, off, r->addr_raw, n);
		PUT("\"");
	}
	if (r->has_ext && r->cmd == PVCALLS_EXT_SHUTDOWN) {
		PUT(",\"how\":%" PRIu32, r->ext_arg);
	} else if (r->has_ext) {
		const char *on = pvc_back_opt_name(r->ext_arg);

		if (on)
			PUT(",\"opt\":\"%s\"", on);
		else
			PUT(",\"opt_num\":%" PRIu32, r->ext_arg);
		if (r->ext_nval >= 1)
			PUT(",\"value\":%" PRId32, r->ext_val[0]);
		if (r->ext_nval >= 2)
			PUT(",\"linger\":%" PRId32, r->ext_val[1]);
	}
	if (r->decision != PVCALLS_BACK_DECISION_NONE) {
		PUT(",\"decision\":\"%s\",\"rule\":\"",
		    dec[r->decision == PVCALLS_BACK_DECISION_DENY ? 2 : 1]);
		off = put_str(buf, len, off, r->reason ? r->reason : "",
			      r->reason ? strlen(r->reason) : 0);
		PUT("\"");
	}
	PUT(",\"ret\":%" PRId32, r->ret);
	if (r->ret) {
		const char *en = pvc_errno_wire_name(r->ret);

		if (en)
			PUT(",\"errno\":\"%s\"", en);
		else
			PUT(",\"errno\":null");
	} else {
		PUT(",\"errno\":null");
	}
	PUT(",\"latency_us\":%" PRIu32 "}\n", r->latency_us);
	if (off >= len)
		return -ENOSPC;
	return (int)off;
}

void pvcalls_back_set_audit(pvcalls_back *b, pvcalls_back_audit_fn fn, void *arg)
{
	if (!b)
		return;
	b->audit_fn = fn;
	b->audit_arg = arg;
}

void pvc_back_audit_emit(struct back_frontend *f, const struct pvcalls_wire_request *req,
			 int32_t ret, const struct back_audit_ctx *ax)
{
	pvcalls_back *b = f->b;
	struct pvcalls_back_audit r;
	struct timespec rt;
	int64_t now = pvc_now_us();
	int64_t t0 = ax && ax->t0 ? ax->t0 : now;
	struct pvcalls_req pr;
	union pvc_sockaddr sa;

	memset(&r, 0, sizeof(r));
	clock_gettime(CLOCK_REALTIME, &rt);
	r.time_us = (int64_t)rt.tv_sec * 1000000 + rt.tv_nsec / 1000 - (now - t0);
	r.domid = f->feid;
	r.devid = f->devid;
	r.req_id = req->req_id;
	r.cmd = req->cmd;
	r.id = req->u.poll.id;
	if (req->cmd == PVCALLS_WIRE_ACCEPT)
		r.id_new = req->u.accept.id_new;
	if (req->cmd == PVCALLS_WIRE_CONNECT || req->cmd == PVCALLS_WIRE_BIND) {
		/* connect and bind lay out id, addr and len alike. */
		r.has_addr = true;
		memcpy(r.addr_raw, req->u.bind.addr, sizeof(r.addr_raw));
		r.addr_len = req->u.bind.len;
		if (pvcalls_req_parse(req, &pr) == 0) {
			r.addr_valid = true;
			r.addr = pr.u.bind.addr;
		} else if (pvc_sockaddr_from_wire(req->u.bind.addr, req->u.bind.len, AF_INET6, &sa,
						  NULL) == 0) {
			/* docs/extensions.md, "IPv6": the 28-byte form. */
			r.addr_valid = true;
			r.addr6 = sa.in6;
		}
	}
	if (ax && ax->ext) {
		r.has_ext = true;
		r.ext_arg = ax->ext_arg;
		r.ext_nval = ax->ext_nval;
		r.ext_val[0] = ax->ext_val[0];
		r.ext_val[1] = ax->ext_val[1];
	}
	if (ax && ax->has_name) { /* GETSOCKNAME, GETPEERNAME: the address returned */
		r.has_addr = r.addr_valid = true;
		if (ax->name.sa.sa_family == AF_INET6)
			r.addr6 = ax->name.in6;
		else
			r.addr = ax->name.in;
	}
	r.decision = ax ? (enum pvcalls_back_decision)ax->decision : PVCALLS_BACK_DECISION_NONE;
	r.reason = ax ? ax->reason : "";
	r.ret = ret;
	r.latency_us = now - t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(now - t0);
	b->audit_fn(b->audit_arg, &r);
}
