/* SPDX-License-Identifier: MIT */
/* Building, checking and decoding PV Calls commands (pvcalls/proto.h). */
#include <pvcalls/proto.h>

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <pvcalls/wire_ext.h>

/* All ids sit at offset 8, whatever the command. */
_Static_assert(offsetof(struct pvcalls_wire_request, u.socket.id) ==
		       offsetof(struct pvcalls_wire_request, u.poll.id),
	       "ids share one offset");

static void req_init(struct pvcalls_wire_request *req, uint32_t req_id, uint32_t cmd, uint64_t id)
{
	memset(req, 0, sizeof(*req));
	req->req_id = req_id;
	req->cmd = cmd;
	req->u.poll.id = id;
}

int pvcalls_addr_encode(uint8_t field[PVCALLS_WIRE_ADDR_LEN], uint32_t *len,
			const struct sockaddr *addr, socklen_t addrlen)
{
	struct sockaddr_in sin;
	uint16_t family = PVCALLS_WIRE_AF_INET;

	memset(field, 0, PVCALLS_WIRE_ADDR_LEN);
	*len = 0;
	/* Length before family, as Linux's inet_bind() and tcp_v4_connect(). */
	if (!addr || addrlen < (socklen_t)sizeof(sin))
		return -EINVAL;
	memcpy(&sin, addr, sizeof(sin));
	if (sin.sin_family != AF_INET)
		return -EAFNOSUPPORT;
	/* Linux layout: u16 family (page byte order), be16 port, be32 addr. */
	memcpy(field, &family, 2);
	memcpy(field + 2, &sin.sin_port, 2);
	memcpy(field + 4, &sin.sin_addr.s_addr, 4);
	*len = PVCALLS_WIRE_SOCKADDR_IN_LEN;
	return 0;
}

int pvcalls_addr_decode(const uint8_t field[PVCALLS_WIRE_ADDR_LEN], uint32_t len,
			struct sockaddr_in *out)
{
	uint16_t family;

	memset(out, 0, sizeof(*out));
	if (len < PVCALLS_WIRE_SOCKADDR_IN_LEN || len > PVCALLS_WIRE_ADDR_LEN)
		return -EINVAL;
	memcpy(&family, field, 2);
	if (family != PVCALLS_WIRE_AF_INET)
		return -EAFNOSUPPORT;
#if defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) || \
	defined(__DragonFly__) || defined(__APPLE__)
	out->sin_len = sizeof(*out);
#endif
	out->sin_family = AF_INET;
	memcpy(&out->sin_port, field + 2, 2);
	memcpy(&out->sin_addr.s_addr, field + 4, 4);
	return 0;
}

int pvcalls_req_socket(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id, int domain,
		       int type, int protocol)
{
	memset(req, 0, sizeof(*req));
	if (domain != AF_INET)
		return -EAFNOSUPPORT;
	if (type != SOCK_STREAM)
		return -ESOCKTNOSUPPORT;
	if (protocol != 0 && protocol != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	req_init(req, req_id, PVCALLS_WIRE_SOCKET, id);
	req->u.socket.domain = PVCALLS_WIRE_AF_INET;
	req->u.socket.type = PVCALLS_WIRE_SOCK_STREAM;
	req->u.socket.protocol = PVCALLS_WIRE_IPPROTO_IP;
	return 0;
}

int pvcalls_req_connect(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id,
			const struct sockaddr *addr, socklen_t addrlen, uint32_t ref,
			uint32_t evtchn)
{
	int err;

	req_init(req, req_id, PVCALLS_WIRE_CONNECT, id);
	err = pvcalls_addr_encode(req->u.connect.addr, &req->u.connect.len, addr, addrlen);
	if (err) {
		memset(req, 0, sizeof(*req));
		return err;
	}
	req->u.connect.ref = ref;
	req->u.connect.evtchn = evtchn;
	return 0;
}

void pvcalls_req_release(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id)
{
	req_init(req, req_id, PVCALLS_WIRE_RELEASE, id);
}

int pvcalls_req_bind(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id,
		     const struct sockaddr *addr, socklen_t addrlen)
{
	int err;

	req_init(req, req_id, PVCALLS_WIRE_BIND, id);
	err = pvcalls_addr_encode(req->u.bind.addr, &req->u.bind.len, addr, addrlen);
	if (err)
		memset(req, 0, sizeof(*req));
	return err;
}

void pvcalls_req_listen(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id, int backlog)
{
	req_init(req, req_id, PVCALLS_WIRE_LISTEN, id);
	req->u.listen.backlog = backlog < 0 ? (uint32_t)INT32_MAX : (uint32_t)backlog;
}

void pvcalls_req_accept(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id,
			uint64_t id_new, uint32_t ref, uint32_t evtchn)
{
	req_init(req, req_id, PVCALLS_WIRE_ACCEPT, id);
	req->u.accept.id_new = id_new;
	req->u.accept.ref = ref;
	req->u.accept.evtchn = evtchn;
}

void pvcalls_req_poll(struct pvcalls_wire_request *req, uint32_t req_id, uint64_t id)
{
	req_init(req, req_id, PVCALLS_WIRE_POLL, id);
}

int pvcalls_req_parse(const struct pvcalls_wire_request *req, struct pvcalls_req *out)
{
	struct pvcalls_req tmp;
	int err = 0;

	memset(&tmp, 0, sizeof(tmp));
	tmp.req_id = req->req_id;
	tmp.cmd = req->cmd;
	tmp.id = req->u.poll.id;

	switch (tmp.cmd) {
	case PVCALLS_WIRE_SOCKET:
		/* Linux's backend also lets protocol 2 through; so do we. */
		if (req->u.socket.domain != PVCALLS_WIRE_AF_INET ||
		    req->u.socket.type != PVCALLS_WIRE_SOCK_STREAM ||
		    (req->u.socket.protocol != PVCALLS_WIRE_IPPROTO_IP &&
		     req->u.socket.protocol != PVCALLS_WIRE_AF_INET))
			err = -EAFNOSUPPORT;
		break;
	case PVCALLS_WIRE_CONNECT:
		err = pvcalls_addr_decode(req->u.connect.addr, req->u.connect.len,
					  &tmp.u.connect.addr);
		tmp.u.connect.ref = req->u.connect.ref;
		tmp.u.connect.evtchn = req->u.connect.evtchn;
		tmp.u.connect.flags = req->u.connect.flags;
		break;
	case PVCALLS_WIRE_BIND:
		err = pvcalls_addr_decode(req->u.bind.addr, req->u.bind.len, &tmp.u.bind.addr);
		break;
	case PVCALLS_WIRE_LISTEN:
		tmp.u.listen.backlog =
			req->u.listen.backlog > INT_MAX ? INT_MAX : (int)req->u.listen.backlog;
		break;
	case PVCALLS_WIRE_ACCEPT:
		tmp.u.accept.id_new = req->u.accept.id_new;
		tmp.u.accept.ref = req->u.accept.ref;
		tmp.u.accept.evtchn = req->u.accept.evtchn;
		break;
	case PVCALLS_WIRE_RELEASE: /* reuse: stale on Linux, ignored */
	case PVCALLS_WIRE_POLL:
		break;
	default:
		err = -PVCALLS_WIRE_ENOTSUPP;
		break;
	}
	if (err)
		memset(&tmp.u, 0, sizeof(tmp.u));
	if (out)
		*out = tmp;
	return err;
}

void pvcalls_rsp_build(struct pvcalls_wire_response *rsp, const struct pvcalls_wire_request *req,
		       int err)
{
	memset(rsp, 0, sizeof(*rsp));
	rsp->req_id = req->req_id;
	rsp->cmd = req->cmd;
	rsp->ret = pvcalls_errno_to_wire(err);
	rsp->u.id = req->u.poll.id;
}

int pvcalls_rsp_parse(const struct pvcalls_wire_response *rsp, struct pvcalls_rsp *out)
{
	int32_t ret = rsp->ret;

	if (rsp->cmd >= PVCALLS_WIRE_NR_CMDS || ret > 0 || ret < -PVCALLS_WIRE_MAX_ERRNO)
		return -EPROTO;
	if (out) {
		out->req_id = rsp->req_id;
		out->cmd = rsp->cmd;
		out->id = rsp->u.id;
		out->err = pvcalls_errno_from_wire(ret);
	}
	return 0;
}

const char *pvcalls_cmd_name(uint32_t cmd)
{
	static const char *const names[PVCALLS_WIRE_NR_CMDS] = {
		[PVCALLS_WIRE_SOCKET] = "SOCKET",   [PVCALLS_WIRE_CONNECT] = "CONNECT",
		[PVCALLS_WIRE_RELEASE] = "RELEASE", [PVCALLS_WIRE_BIND] = "BIND",
		[PVCALLS_WIRE_LISTEN] = "LISTEN",   [PVCALLS_WIRE_ACCEPT] = "ACCEPT",
		[PVCALLS_WIRE_POLL] = "POLL",
	};

	/* docs/extensions.md, "Command numbers". */
	static const char *const ext[] = { "SHUTDOWN",   "GETSOCKNAME", "GETPEERNAME", "SETSOCKOPT",
					   "GETSOCKOPT", "DGRAM_RINGS", "RING_FREE" };

	if (cmd < PVCALLS_WIRE_NR_CMDS)
		return names[cmd];
	if (cmd >= PVCALLS_EXT_SHUTDOWN && cmd <= PVCALLS_EXT_RING_FREE)
		return ext[cmd - PVCALLS_EXT_SHUTDOWN];
	if (cmd == PVCALLS_EXT_SENDTO)
		return "SENDTO";
	return "UNKNOWN";
}

int pvcalls_proto_check_ring_order(uint32_t order, uint32_t max_order)
{
	if (max_order > PVCALLS_WIRE_MAX_RING_ORDER)
		max_order = PVCALLS_WIRE_MAX_RING_ORDER;
	return order <= max_order ? 0 : -EINVAL;
}
