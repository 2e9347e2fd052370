/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for src/proto: arbitrary requests (as a backend copies them out
 * of the command ring) and responses (as a frontend does) go through the
 * parsers, and the results are checked against the contract of
 * pvcalls/proto.h. Any broken invariant aborts.
 *
 * Input: a sequence of 88-byte records, a 64-byte request then a 24-byte
 * response; a short last record is zero-padded.
 */
#include <pvcalls/proto.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REC (sizeof(struct pvcalls_wire_request) + sizeof(struct pvcalls_wire_response))
#define MAX_RECS 64

#define must(c)                  \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static void check_err(int err)
{
	const char *s = pvcalls_strerror(err);

	must(s && s[0]);
	must(err <= 0);
}

static void one_request(const struct pvcalls_wire_request *req)
{
	struct pvcalls_req out, out2;
	struct pvcalls_wire_request again;
	struct pvcalls_wire_response rsp;
	struct pvcalls_rsp back;
	int err, err2;

	err = pvcalls_req_parse(req, &out);
	must(err == pvcalls_req_parse(req, NULL));
	must(out.req_id == req->req_id && out.cmd == req->cmd && out.id == req->u.poll.id);
	must(pvcalls_cmd_name(req->cmd) != NULL);
	if (req->cmd >= PVCALLS_WIRE_NR_CMDS)
		must(err == -PVCALLS_WIRE_ENOTSUPP);
	else
		must(err == 0 || err == -EAFNOSUPPORT || err == -EINVAL);

	/* Whatever we answer must be a well-formed response for a known command. */
	pvcalls_rsp_build(&rsp, req, err);
	must(rsp.req_id == req->req_id && rsp.cmd == req->cmd && rsp.u.id == req->u.poll.id);
	must(rsp.pad == 0);
	must(rsp.ret <= 0 && rsp.ret >= -PVCALLS_WIRE_MAX_ERRNO);
	err2 = pvcalls_rsp_parse(&rsp, &back);
	if (req->cmd < PVCALLS_WIRE_NR_CMDS) {
		must(err2 == 0);
		must(back.err == err);
	} else {
		must(err2 == -EPROTO);
		must(rsp.ret == -PVCALLS_WIRE_ENOTSUPP);
	}
	if (err)
		return;

	/* Re-encode what was decoded: the parser must see the same values. */
	switch (out.cmd) {
	case PVCALLS_WIRE_CONNECT:
		must(out.u.connect.addr.sin_family == AF_INET);
		must(pvcalls_req_connect(&again, out.req_id, out.id,
					 (const struct sockaddr *)&out.u.connect.addr,
					 sizeof(out.u.connect.addr), out.u.connect.ref,
					 out.u.connect.evtchn) == 0);
		must(pvcalls_req_parse(&again, &out2) == 0);
		must(out2.u.connect.addr.sin_port == out.u.connect.addr.sin_port);
		must(out2.u.connect.addr.sin_addr.s_addr == out.u.connect.addr.sin_addr.s_addr);
		must(out2.u.connect.ref == out.u.connect.ref);
		must(out2.u.connect.evtchn == out.u.connect.evtchn);
		must(memcmp(again.u.connect.addr, req->u.connect.addr, 8) == 0);
		break;
	case PVCALLS_WIRE_BIND:
		must(pvcalls_req_bind(&again, out.req_id, out.id,
				      (const struct sockaddr *)&out.u.bind.addr,
				      sizeof(out.u.bind.addr)) == 0);
		must(memcmp(again.u.bind.addr, req->u.bind.addr, 8) == 0);
		break;
	case PVCALLS_WIRE_LISTEN:
		must(out.u.listen.backlog >= 0);
		pvcalls_req_listen(&again, out.req_id, out.id, out.u.listen.backlog);
		must(again.u.listen.backlog ==
		     (req->u.listen.backlog > INT_MAX ? (uint32_t)INT_MAX : req->u.listen.backlog));
		break;
	case PVCALLS_WIRE_ACCEPT:
		pvcalls_req_accept(&again, out.req_id, out.id, out.u.accept.id_new,
				   out.u.accept.ref, out.u.accept.evtchn);
		must(memcmp(&again, req, 32) == 0);
		break;
	default:
		break;
	}
}

static void one_response(const struct pvcalls_wire_response *rsp)
{
	struct pvcalls_rsp out;
	int err;

	err = pvcalls_rsp_parse(rsp, &out);
	must(err == pvcalls_rsp_parse(rsp, NULL));
	if (rsp->cmd >= PVCALLS_WIRE_NR_CMDS || rsp->ret > 0 ||
	    rsp->ret < -PVCALLS_WIRE_MAX_ERRNO) {
		must(err == -EPROTO);
		if (rsp->ret > 0 || rsp->ret < -PVCALLS_WIRE_MAX_ERRNO)
			must(pvcalls_errno_from_wire(rsp->ret) == -EPROTO);
		return;
	}
	must(err == 0);
	must(out.req_id == rsp->req_id && out.cmd == rsp->cmd && out.id == rsp->u.id);
	check_err(out.err);
	must((out.err == 0) == (rsp->ret == 0));
	/* Host and back: the same value or a documented stand-in. */
	{
		int32_t w = pvcalls_errno_to_wire(out.err);

		must(w == rsp->ret || w == -5 || (rsp->ret == -PVCALLS_WIRE_ENOTSUPP && w == -95));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t off = 0, n = 0; off < size && n < MAX_RECS; off += REC, n++) {
		uint8_t rec[REC];
		struct pvcalls_wire_request req;
		struct pvcalls_wire_response rsp;
		size_t len = size - off < REC ? size - off : REC;

		memset(rec, 0, sizeof(rec));
		memcpy(rec, data + off, len);
		memcpy(&req, rec, sizeof(req));
		memcpy(&rsp, rec + sizeof(req), sizeof(rsp));
		one_request(&req);
		one_response(&rsp);
		/* The ring order check and errno mapping on raw words too. */
		must(pvcalls_proto_check_ring_order(req.req_id, req.cmd) ==
		     (req.req_id <= (req.cmd > PVCALLS_WIRE_MAX_RING_ORDER
					     ? PVCALLS_WIRE_MAX_RING_ORDER
					     : req.cmd)
			      ? 0
			      : -EINVAL));
		check_err(pvcalls_errno_from_wire((int32_t)req.req_id));
		must(pvcalls_errno_to_wire((int)req.cmd) <= 0);
		must(pvcalls_strerror((int)req.req_id) != NULL);
	}
	return 0;
}
