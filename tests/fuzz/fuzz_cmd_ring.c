/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the command ring (src/ring/cmd_ring.c): a frontend and a
 * backend share one page, and the input is a program of operations on
 * either end interleaved with hostile writes of arbitrary values into the
 * shared indexes, the slots and the padding. Every call's result is checked
 * against the contract of pvcalls/ring.h; any broken invariant aborts.
 *
 * While no hostile write has happened, the ring must also behave exactly:
 * no -EPROTO, requests and responses arrive in order with their content,
 * and both ends agree on the counts.
 *
 * Input: a sequence of records, one opcode byte followed by its operands
 * (see the switch below); missing operand bytes read as zero.
 */
#include <pvcalls/ring.h>

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAGE 4096u
#define NSLOT PVCALLS_WIRE_CMD_RING_SIZE
#define MAX_OPS 4096

#define must(c)                  \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

/* The page sits right before a PROT_NONE page, so running off its end
 * faults even without ASan. */
static struct pvcalls_wire_cmd_sring *page(void)
{
	static uint8_t *map;

	if (!map) {
		map = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			   0);
		must(map != MAP_FAILED);
		must(mprotect(map + PAGE, PAGE, PROT_NONE) == 0);
	}
	return (struct pvcalls_wire_cmd_sring *)map;
}

static void mkreq(struct pvcalls_wire_request *r, uint32_t id)
{
	memset(r, 0, sizeof(*r));
	r->req_id = id;
	r->cmd = id % PVCALLS_WIRE_NR_CMDS;
	for (unsigned i = 0; i < sizeof(r->u.dummy); i++)
		r->u.dummy[i] = (uint8_t)(id + i);
}

static void mkrsp(struct pvcalls_wire_response *r, uint32_t id)
{
	memset(r, 0, sizeof(*r));
	r->req_id = id;
	r->cmd = id % PVCALLS_WIRE_NR_CMDS;
	r->ret = -(int32_t)(id & 0xff);
	r->u.id = (uint64_t)id * 0x10001u;
}

static bool xen_notify(uint32_t old, uint32_t new_prod, uint32_t event)
{
	return (uint32_t)(new_prod - event) < (uint32_t)(new_prod - old);
}

/* Model of a well-behaved exchange, valid while "clean". */
struct model {
	bool clean;
	uint32_t next_put;    /* req_id of the next request put */
	uint32_t next_get;    /* req_id the backend must see next */
	uint32_t held[NSLOT]; /* requests the backend has not answered */
	unsigned nheld;
	uint32_t answered[2 * NSLOT]; /* responses in ring order, not yet got */
	unsigned ans_head, ans_tail;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvcalls_wire_cmd_sring *s = page();
	struct input in = { data, size };
	pvcalls_cmd_front f;
	pvcalls_cmd_back b;
	struct model m;
	uint32_t base = in32(&in);

	memset(s, 0, PAGE);
	pvcalls_cmd_sring_init(s);
	pvcalls_cmd_front_init(&f, s);
	pvcalls_cmd_back_init(&b, s);
	memset(&m, 0, sizeof(m));
	m.clean = true;
	/* Start both ends at an input-chosen counter, to reach the wrap. */
	s->req_prod = s->rsp_prod = base;
	s->req_event = s->rsp_event = base + 1;
	f.req_prod_pvt = f.req_pushed = f.rsp_cons = base;
	b.req_cons = b.rsp_prod_pvt = b.rsp_pushed = base;

	for (unsigned op = 0; in.n && op < MAX_OPS; op++) {
		struct pvcalls_wire_request rq, junk_rq;
		struct pvcalls_wire_response rs, junk_rs;
		uint8_t code = in8(&in);
		unsigned before;
		int rc;

		memset(&junk_rq, 0xa5, sizeof(junk_rq));
		memset(&junk_rs, 0x5a, sizeof(junk_rs));
		switch (code % 12) {
		case 0: /* frontend: put */
			before = pvcalls_cmd_front_free(&f);
			mkreq(&rq, m.next_put);
			rc = pvcalls_cmd_front_put(&f, &rq);
			must(rc == 0 || rc == -ENOSPC);
			must((rc == -ENOSPC) == (before == 0));
			if (rc == 0) {
				must(pvcalls_cmd_front_free(&f) == before - 1);
				m.next_put++;
			}
			break;
		case 1: { /* frontend: push */
			uint32_t old = f.req_pushed, new_prod = f.req_prod_pvt;
			uint32_t ev = s->req_event;
			bool n = pvcalls_cmd_front_push(&f);

			must(n == (old != new_prod && xen_notify(old, new_prod, ev)));
			must(f.req_pushed == new_prod);
			if (old != new_prod)
				must(s->req_prod == new_prod);
			break;
		}
		case 2: /* frontend: get */
			before = pvcalls_cmd_front_free(&f);
			memcpy(&rs, &junk_rs, sizeof(rs));
			rc = pvcalls_cmd_front_get(&f, &rs);
			must(rc == 1 || rc == 0 || rc == -EPROTO);
			if (rc == 1) {
				must(pvcalls_cmd_front_free(&f) == before + 1);
				if (m.clean) {
					struct pvcalls_wire_response want;

					must(m.ans_head != m.ans_tail);
					mkrsp(&want, m.answered[m.ans_head++ % (2 * NSLOT)]);
					must(!memcmp(&rs, &want, sizeof(rs)));
				}
			} else {
				must(pvcalls_cmd_front_free(&f) == before);
				must(!memcmp(&rs, &junk_rs, sizeof(rs)));
				if (m.clean)
					must(rc == 0);
			}
			break;
		case 3: /* frontend: final check */
			before = pvcalls_cmd_front_free(&f);
			rc = pvcalls_cmd_front_final_check(&f);
			must(rc == 1 || rc == 0 || rc == -EPROTO);
			must(pvcalls_cmd_front_free(&f) == before);
			if (rc == 0)
				must(s->rsp_event == f.rsp_cons + 1);
			if (m.clean)
				must(rc == (s->rsp_prod != f.rsp_cons));
			break;
		case 4: /* backend: get */
			before = pvcalls_cmd_back_outstanding(&b);
			memcpy(&rq, &junk_rq, sizeof(rq));
			rc = pvcalls_cmd_back_get(&b, &rq);
			must(rc == 1 || rc == 0 || rc == -EPROTO);
			if (rc == 1) {
				must(pvcalls_cmd_back_outstanding(&b) == before + 1);
				if (m.clean) {
					struct pvcalls_wire_request want;

					mkreq(&want, m.next_get);
					must(!memcmp(&rq, &want, sizeof(rq)));
					must(m.nheld < NSLOT);
					m.held[m.nheld++] = m.next_get++;
				}
			} else {
				must(pvcalls_cmd_back_outstanding(&b) == before);
				must(!memcmp(&rq, &junk_rq, sizeof(rq)));
				if (m.clean)
					must(rc == 0 &&
					     m.next_get == (uint32_t)(b.req_cons - base) &&
					     s->req_prod == b.req_cons);
			}
			break;
		case 5: { /* backend: answer one held request, any of them */
			unsigned pick = in8(&in);
			uint32_t id = 0xffffffffu;

			before = pvcalls_cmd_back_outstanding(&b);
			if (m.clean && m.nheld) {
				pick %= m.nheld;
				id = m.held[pick];
				m.held[pick] = m.held[--m.nheld];
			}
			mkrsp(&rs, id);
			rc = pvcalls_cmd_back_put(&b, &rs);
			must(rc == 0 || rc == -ENOSPC);
			must((rc == -ENOSPC) == (before == 0));
			if (rc == 0) {
				must(pvcalls_cmd_back_outstanding(&b) == before - 1);
				if (m.clean)
					m.answered[m.ans_tail++ % (2 * NSLOT)] = id;
			}
			if (m.clean)
				must((rc == 0) == (id != 0xffffffffu));
			break;
		}
		case 6: { /* backend: push */
			uint32_t old = b.rsp_pushed, new_prod = b.rsp_prod_pvt;
			uint32_t ev = s->rsp_event;
			bool n = pvcalls_cmd_back_push(&b);

			must(n == (old != new_prod && xen_notify(old, new_prod, ev)));
			if (old != new_prod)
				must(s->rsp_prod == new_prod);
			break;
		}
		case 7: /* backend: final check */
			before = pvcalls_cmd_back_outstanding(&b);
			rc = pvcalls_cmd_back_final_check(&b);
			must(rc == 1 || rc == 0 || rc == -EPROTO);
			must(pvcalls_cmd_back_outstanding(&b) == before);
			if (rc == 0)
				must(s->req_event == b.req_cons + 1);
			if (m.clean)
				must(rc == (s->req_prod != b.req_cons));
			break;
		case 8: { /* hostile: an index, absolute or near its value */
			uint32_t *idx[4] = { &s->req_prod, &s->req_event, &s->rsp_prod,
					     &s->rsp_event };
			uint8_t sel = in8(&in);
			uint32_t *w = idx[sel & 3];

			if (sel & 4)
				*w = in32(&in);
			else
				*w += (uint32_t)(int8_t)in8(&in);
			/* Event indexes only steer notifications. */
			if ((sel & 3) == 0 || (sel & 3) == 2)
				m.clean = false;
			break;
		}
		case 9: { /* hostile: bytes of a slot */
			uint8_t slot = in8(&in) % NSLOT, off = in8(&in) % 64, len = in8(&in) % 65;

			if (off + len > 64)
				len = (uint8_t)(64 - off);
			for (unsigned i = 0; i < len; i++)
				((uint8_t *)&s->ring[slot])[off + i] = in8(&in);
			if (len)
				m.clean = false;
			break;
		}
		case 10: /* hostile: padding (nobody reads it) */
			s->pad[in8(&in) % sizeof(s->pad)] = in8(&in);
			break;
		default: /* both ends report sane counts */
			break;
		}
		/* Private state stays in range whatever the peer did. */
		must(pvcalls_cmd_front_free(&f) <= NSLOT);
		must(pvcalls_cmd_back_outstanding(&b) <= NSLOT);
		must((uint32_t)(f.req_prod_pvt - f.req_pushed) <= NSLOT);
		if (m.clean) {
			/* Not with a hostile frontend: one that pushes requests
			 * into slots of unpushed responses can make the backend
			 * overwrite its own answers (as Xen's macros allow). */
			must((uint32_t)(b.rsp_prod_pvt - b.rsp_pushed) <= NSLOT);
			must(pvcalls_cmd_back_outstanding(&b) == m.nheld);
			must(pvcalls_cmd_front_free(&f) ==
			     NSLOT - (m.next_put - (uint32_t)(f.rsp_cons - base)));
		}
	}
	return 0;
}
