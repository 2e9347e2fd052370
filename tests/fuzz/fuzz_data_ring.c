/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the data ring (src/ring/data_ring.c): a frontend and a
 * backend attached to one indexes page and 2^order data pages (order
 * 0..9 from the input). The input is a program of reads, writes, spans,
 * commits and consumes on either side, interleaved with hostile writes of
 * arbitrary values into the shared indexes. Every result is checked
 * against pvcalls/ring.h: return values in range, spans inside the right
 * half of the buffer, lengths <= the ring size, commit/consume accepted
 * exactly up to what spans handed out. Any broken invariant aborts.
 *
 * While no hostile write has happened, both byte streams must also arrive
 * intact and no call may fail with -EPROTO.
 *
 * The indexes page and the data area each end at a PROT_NONE page; under
 * ASan the unused space before the data is poisoned too.
 *
 * Input: order byte, four u32 start counters (in, out), then records of
 * one opcode byte and its operands; missing bytes read as zero.
 */
#include <pvcalls/ring.h>

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#define poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define poison(p, n) ((void)(p), (void)(n))
#define unpoison(p, n) ((void)(p), (void)(n))
#endif

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The stream helpers run over megabytes: keep coverage tracing out of them. */
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))
#else
#define NO_COVERAGE
#endif

#define PAGE 4096u
#define MAX_ORDER PVCALLS_WIRE_MAX_RING_ORDER
#define MAX_DATA ((size_t)PAGE << MAX_ORDER)
#define MAX_OPS 1024
/* Bytes one input may ask to move, so that no input is slow. */
#define BUDGET (8u << 20)

#define must(c)                  \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

/* A length for an operation on a ring of @size bytes: small values and
 * values around the size are the interesting ones. */
static uint32_t in_len(struct input *in, uint32_t size)
{
	uint8_t sel = in8(in);
	uint32_t v = (uint32_t)in8(in) | (uint32_t)in8(in) << 8 | (uint32_t)in8(in) << 16;

	switch (sel & 3) {
	case 0:
		return sel >> 2; /* 0..63 */
	case 1:
		return size + (uint32_t)(int8_t)(v & 0xff) - 64; /* near size */
	default:
		return v % (size + 2); /* anywhere, up to size + 1 */
	}
}

static struct {
	uint8_t *intf_map, *data_map;
	uint8_t *buf;
} mem;

static void setup(void)
{
	if (mem.intf_map)
		return;
	mem.intf_map =
		mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(mem.intf_map != MAP_FAILED);
	must(mprotect(mem.intf_map + PAGE, PAGE, PROT_NONE) == 0);
	mem.data_map = mmap(NULL, MAX_DATA + PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	must(mem.data_map != MAP_FAILED);
	must(mprotect(mem.data_map + MAX_DATA, PAGE, PROT_NONE) == 0);
	mem.buf = malloc(MAX_DATA / 2 + 64);
	must(mem.buf);
}

/* 8 bytes of the stream of direction @dir, block @blk. */
NO_COVERAGE static uint64_t sblock(int dir, uint64_t blk)
{
	uint64_t x = blk * 0x9e3779b97f4a7c15ull + (uint64_t)dir * 0x12345;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return x;
}

/* Fills @p with stream bytes [pos, pos + n) of direction @dir. */
NO_COVERAGE static void sfill(uint8_t *p, uint32_t n, int dir, uint64_t pos)
{
	uint64_t x = sblock(dir, pos >> 3);

	for (uint32_t i = 0; i < n; i++, pos++) {
		if (i && !(pos & 7))
			x = sblock(dir, pos >> 3);
		p[i] = (uint8_t)(x >> ((pos & 7) * 8));
	}
}

NO_COVERAGE static bool smatch(const uint8_t *p, uint32_t n, int dir, uint64_t pos)
{
	uint64_t x = sblock(dir, pos >> 3);

	for (uint32_t i = 0; i < n; i++, pos++) {
		if (i && !(pos & 7))
			x = sblock(dir, pos >> 3);
		if (p[i] != (uint8_t)(x >> ((pos & 7) * 8)))
			return false;
	}
	return true;
}

struct side {
	pvcalls_data_ring r;
	uint8_t *tx_half, *rx_half;
	uint32_t tx_avail, rx_avail; /* model of what commit/consume accept */
	uint64_t sent, got;          /* stream positions, while clean */
};

struct world {
	struct pvcalls_wire_data_intf *intf;
	uint8_t *data;
	unsigned order;
	uint32_t size;
	bool clean;
	uint64_t budget;  /* bytes still allowed (BUDGET) */
	struct side s[2]; /* 0: frontend, 1: backend */
};

static void check_span(const struct world *w, const struct iovec *v, const uint8_t *half)
{
	const uint8_t *p = v->iov_base;

	if (!v->iov_len)
		return;
	must(v->iov_len <= w->size);
	must(p >= half && p + v->iov_len <= half + w->size);
}

/* Checks a spans result; @n is the return value. */
static void check_spans(const struct world *w, int n, const struct iovec iov[2],
			const uint8_t *half)
{
	if (n < 0) {
		must(n == -EPROTO);
		must(!iov[0].iov_len && !iov[1].iov_len);
		must(!iov[0].iov_base && !iov[1].iov_base);
		return;
	}
	must((uint32_t)n <= w->size);
	must(iov[0].iov_len + iov[1].iov_len == (size_t)n);
	check_span(w, &iov[0], half);
	check_span(w, &iov[1], half);
	/* The second region exists only after a full first one, at the start. */
	if (iov[1].iov_len) {
		must(iov[1].iov_base == half);
		must((const uint8_t *)iov[0].iov_base + iov[0].iov_len == half + w->size);
	}
	if (n > 0)
		must(iov[0].iov_len > 0);
}

static void attach(struct world *w, int who)
{
	struct side *sd = &w->s[who];

	must(pvcalls_data_ring_attach(&sd->r, w->intf, w->data, w->order,
				      who ? PVCALLS_DATA_BACKEND : PVCALLS_DATA_FRONTEND) == 0);
	must(pvcalls_data_ring_size(&sd->r) == w->size);
	/* Frontend produces into out (second half); backend into in (first). */
	sd->tx_half = who ? w->data : w->data + w->size;
	sd->rx_half = who ? w->data + w->size : w->data;
	sd->tx_avail = sd->rx_avail = 0;
}

/*
 * What the ring must report, computed from the shared page (the calls read
 * the peer's index once, and nothing changes it during a call here).
 */
static int64_t want_free(const struct world *w, const struct side *sd)
{
	uint32_t used = sd->r.tx_prod - *sd->r.tx_cons_sh;

	return used > w->size ? -EPROTO : (int64_t)(w->size - used);
}

static int64_t want_queued(const struct world *w, const struct side *sd)
{
	uint32_t q = *sd->r.rx_prod_sh - sd->r.rx_cons;

	return q > w->size ? -EPROTO : (int64_t)q;
}

/* Producer side of one step: @how 0 copies, 1 uses spans + commit. */
static void produce(struct world *w, int who, int how, struct input *in)
{
	struct side *sd = &w->s[who];
	uint32_t len = in_len(in, w->size);
	uint32_t prod0 = sd->r.tx_prod;
	int64_t room = want_free(w, sd);
	struct iovec iov[2];

	w->budget -= len < w->budget ? len : w->budget;

	must(!w->clean || room >= 0);
	if (how == 0) {
		ssize_t n;

		if (w->clean)
			sfill(mem.buf, len < w->size ? len : w->size, who, sd->sent);
		n = pvcalls_data_write(&sd->r, mem.buf, len);
		if (room < 0) {
			must(n == -EPROTO);
			must(sd->r.tx_prod == prod0);
			sd->tx_avail = 0;
			return;
		}
		must(n == (len < room ? len : room));
		must(sd->r.tx_prod == prod0 + (uint32_t)n);
		if (n > 0)
			must(*sd->r.tx_prod_sh == sd->r.tx_prod);
		/* write() is spans + commit: the rest of that space stays usable. */
		sd->tx_avail = (uint32_t)(room - n);
		sd->sent += (uint64_t)n;
		return;
	}

	{
		int n = pvcalls_data_tx_spans(&sd->r, iov);
		uint32_t c = len, first;

		check_spans(w, n, iov, sd->tx_half);
		must(n == room);
		sd->tx_avail = n < 0 ? 0 : (uint32_t)n;
		if (n > 0)
			must(iov[0].iov_base == sd->tx_half + (prod0 & (w->size - 1)));
		if (in8(in) & 1) {
			/* Commit whatever the input says without filling:
			 * only the accepted amount may move. */
			int rc = pvcalls_data_tx_commit(&sd->r, c);

			must((rc == 0) == (c <= sd->tx_avail));
			must(rc == 0 || rc == -EINVAL);
			if (rc == 0) {
				sd->tx_avail -= c;
				must(sd->r.tx_prod == prod0 + c);
				if (c)
					w->clean = false; /* unfilled bytes published */
				sd->sent += c;
			} else {
				must(sd->r.tx_prod == prod0);
			}
			return;
		}
		if (c > sd->tx_avail)
			c = sd->tx_avail;
		first = c < iov[0].iov_len ? c : (uint32_t)iov[0].iov_len;
		if (w->clean) {
			sfill(iov[0].iov_base, first, who, sd->sent);
			sfill(iov[1].iov_base, c - first, who, sd->sent + first);
		}
		must(pvcalls_data_tx_commit(&sd->r, c) == 0);
		sd->tx_avail -= c;
		must(sd->r.tx_prod == prod0 + c);
		if (c)
			must(*sd->r.tx_prod_sh == sd->r.tx_prod);
		sd->sent += c;
		/* Over-commit by one is refused. */
		must(pvcalls_data_tx_commit(&sd->r, sd->tx_avail + 1) == -EINVAL);
	}
}

static void verify(struct world *w, int who, const uint8_t *p, uint32_t n, uint64_t pos)
{
	if (w->clean)
		must(smatch(p, n, !who, pos));
}

/* Consumer side of one step: @how 0 copies, 1 peeks, 2 uses spans. */
static void consume(struct world *w, int who, int how, struct input *in)
{
	struct side *sd = &w->s[who];
	uint32_t len = in_len(in, w->size);
	uint32_t cons0 = sd->r.rx_cons;
	int64_t q = want_queued(w, sd);
	struct iovec iov[2];

	w->budget -= len < w->budget ? len : w->budget;

	must(!w->clean || q == (int64_t)(w->s[!who].sent - sd->got));
	if (how < 2) {
		ssize_t n;

		memset(mem.buf, 0xee, 16);
		n = pvcalls_data_read(&sd->r, mem.buf, len, how ? PVCALLS_DATA_PEEK : 0);
		if (q < 0) {
			must(n == -EPROTO);
			for (int i = 0; i < 16; i++)
				must(mem.buf[i] == 0xee);
			must(sd->r.rx_cons == cons0);
			sd->rx_avail = 0;
			return;
		}
		must(n == (len < q ? len : q));
		verify(w, who, mem.buf, (uint32_t)n, sd->got);
		if (how) {
			must(sd->r.rx_cons == cons0);
			sd->rx_avail = (uint32_t)q;
		} else {
			must(sd->r.rx_cons == cons0 + (uint32_t)n);
			if (n > 0)
				must(*sd->r.rx_cons_sh == sd->r.rx_cons);
			sd->got += (uint64_t)n;
			sd->rx_avail = (uint32_t)(q - n);
		}
		return;
	}

	{
		int n = pvcalls_data_rx_spans(&sd->r, iov);
		uint32_t c = len;
		int rc;

		check_spans(w, n, iov, sd->rx_half);
		must(n == q);
		sd->rx_avail = n < 0 ? 0 : (uint32_t)n;
		if (n > 0) {
			must(iov[0].iov_base == sd->rx_half + (cons0 & (w->size - 1)));
			verify(w, who, iov[0].iov_base, (uint32_t)iov[0].iov_len, sd->got);
			verify(w, who, iov[1].iov_base, (uint32_t)iov[1].iov_len,
			       sd->got + iov[0].iov_len);
		}
		rc = pvcalls_data_rx_consume(&sd->r, c);
		must(rc == 0 || rc == -EINVAL);
		must((rc == 0) == (c <= sd->rx_avail));
		if (rc == 0) {
			sd->rx_avail -= c;
			must(sd->r.rx_cons == cons0 + c);
			if (c)
				must(*sd->r.rx_cons_sh == sd->r.rx_cons);
			sd->got += c;
		} else {
			must(sd->r.rx_cons == cons0);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct world w;
	uint32_t start_in, start_out;

	setup();
	memset(&w, 0, sizeof(w));
	w.order = in8(&in) % (MAX_ORDER + 1);
	w.size = PVCALLS_WIRE_DATA_RING_SIZE(w.order);
	w.intf = (struct pvcalls_wire_data_intf *)mem.intf_map;
	w.data = mem.data_map + MAX_DATA - ((size_t)PAGE << w.order);
	poison(mem.data_map, MAX_DATA - ((size_t)PAGE << w.order));
	unpoison(w.data, (size_t)PAGE << w.order);
	memset(w.intf, 0, PAGE);
	w.intf->ring_order = w.order;
	start_in = in32(&in);
	start_out = in32(&in);
	w.intf->in_prod = w.intf->in_cons = start_in;
	w.intf->out_prod = w.intf->out_cons = start_out;
	w.clean = true;
	w.budget = BUDGET;
	attach(&w, 0);
	attach(&w, 1);

	for (unsigned op = 0; in.n && op < MAX_OPS && w.budget; op++) {
		uint8_t code = in8(&in);
		int who = code & 1;
		struct side *sd = &w.s[who];

		switch ((code >> 1) % 10) {
		case 0:
			produce(&w, who, 0, &in);
			break;
		case 1:
			produce(&w, who, 1, &in);
			break;
		case 2:
			consume(&w, who, 0, &in);
			break;
		case 3:
			consume(&w, who, 1, &in);
			break;
		case 4:
			consume(&w, who, 2, &in);
			break;
		case 5: { /* queries */
			int q = pvcalls_data_rx_queued(&sd->r), f = pvcalls_data_tx_free(&sd->r);

			must(q == want_queued(&w, sd) && f == want_free(&w, sd));
			must(q == -EPROTO || (q >= 0 && (uint32_t)q <= w.size));
			must(f == -EPROTO || (f >= 0 && (uint32_t)f <= w.size));
			if (w.clean) {
				must((uint64_t)q == w.s[!who].sent - sd->got);
				must((uint64_t)f == w.size - (sd->sent - w.s[!who].got));
			}
			break;
		}
		case 6: { /* hostile: an index, absolute or near its value */
			uint32_t *idx[4] = { &w.intf->in_cons, &w.intf->in_prod, &w.intf->out_cons,
					     &w.intf->out_prod };
			uint8_t sel = in8(&in);
			uint32_t *p = idx[sel & 3];

			if (sel & 4)
				*p = in32(&in);
			else
				*p += (uint32_t)(int8_t)in8(&in);
			w.clean = false;
			break;
		}
		case 7: { /* errors: the backend sets, both read */
			int32_t e = -(int32_t)(in8(&in) % 134);

			if (who)
				pvcalls_data_set_in_error(&sd->r, e);
			else
				pvcalls_data_set_out_error(&w.s[1].r, e);
			must(pvcalls_data_rx_error(&w.s[0].r) == w.intf->in_error);
			must(pvcalls_data_tx_error(&w.s[1].r) == w.intf->in_error);
			must(pvcalls_data_tx_error(&w.s[0].r) == w.intf->out_error);
			must(pvcalls_data_rx_error(&w.s[1].r) == w.intf->out_error);
			break;
		}
		case 8: /* re-attach: private counters reload from the page */
			attach(&w, who);
			if (w.clean) {
				must(sd->r.tx_prod == (who ? w.intf->in_prod : w.intf->out_prod));
				must(sd->r.rx_cons == (who ? w.intf->out_cons : w.intf->in_cons));
			}
			break;
		default: /* a stale commit/consume after other calls */
		{
			uint32_t c = in8(&in);
			int rc = (code & 0x80) ? pvcalls_data_tx_commit(&sd->r, c)
					       : pvcalls_data_rx_consume(&sd->r, c);
			uint32_t *avail = (code & 0x80) ? &sd->tx_avail : &sd->rx_avail;

			must(rc == 0 || rc == -EINVAL);
			must((rc == 0) == (c <= *avail));
			if (rc == 0) {
				*avail -= c;
				if (c && (code & 0x80))
					w.clean = false; /* unfilled bytes published */
				if (code & 0x80)
					sd->sent += c;
				else
					sd->got += c;
			}
			break;
		}
		}
		for (int i = 0; i < 2; i++) {
			must(w.s[i].r.tx_avail == w.s[i].tx_avail);
			must(w.s[i].r.rx_avail == w.s[i].rx_avail);
			must(w.s[i].r.tx_avail <= w.size && w.s[i].r.rx_avail <= w.size);
		}
	}
	poison(w.data, (size_t)PAGE << w.order);
	return 0;
}
