/* SPDX-License-Identifier: MIT */
/*
 * The data ring of an active socket: two byte rings (in, out) with
 * free-running 32-bit indexes, masked into a power-of-two buffer. Unsigned
 * subtraction makes every computation correct across the 2^32 wrap.
 *
 * Each side owns one index per direction (the producer index of the
 * direction it sends, the consumer index of the one it receives) and
 * keeps it privately; the shared copy is only written. The peer's index is
 * read once per call and must satisfy 0 <= prod - cons <= size, else the
 * call fails with -EPROTO without touching the buffers. With a trusted
 * private index and a validated distance, every byte accessed lies in
 * [0, size) after masking: hostile indexes cannot cause out-of-bounds
 * access, only garbage data or an error.
 *
 * Barrier pairs (docs/protocol-notes.md, "Data ring workflow"; spec "Workflow"):
 *  D1 producer: load_acquire(peer cons) before writing into the freed
 *     space (the spec's general barrier); pairs with D4.
 *  D2 producer: store_release(prod) after writing data (write barrier);
 *     pairs with D3.
 *  D3 consumer: load_acquire(peer prod) before reading data (read barrier).
 *  D4 consumer: store_release(cons) after reading data (general barrier:
 *     the reads complete before the space is handed back).
 *  D5 backend: store_release(in_error) after the last in_prod store;
 *     pairs with D6.
 *  D6 frontend: load_acquire(in_error), then D3 on in_prod: if the error
 *     is seen, every byte produced before it is visible too.
 *  D7 shared peek (any thread): load_acquire(cons), then load_acquire(prod)
 *     of one direction; each pairs with its owner's release store (D2,
 *     D4), whichever side or thread that is.
 */
#include <errno.h>
#include <string.h>

#include <pvcalls/ring.h>

#include "ring/barrier.h"

int pvcalls_data_ring_attach(pvcalls_data_ring *r, struct pvcalls_wire_data_intf *intf, void *data,
			     unsigned order, enum pvcalls_data_role role)
{
	uint8_t *in, *out;

	if (!r || !intf || !data || order > PVCALLS_WIRE_MAX_RING_ORDER ||
	    (role != PVCALLS_DATA_FRONTEND && role != PVCALLS_DATA_BACKEND))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->intf = intf;
	r->order = order;
	r->size = PVCALLS_WIRE_DATA_RING_SIZE(order);
	in = data;
	out = in + r->size;
	r->backend = role == PVCALLS_DATA_BACKEND;
	if (r->backend) {
		r->tx_buf = in;
		r->rx_buf = out;
		r->tx_prod_sh = &intf->in_prod;
		r->tx_cons_sh = &intf->in_cons;
		r->rx_prod_sh = &intf->out_prod;
		r->rx_cons_sh = &intf->out_cons;
	} else {
		r->tx_buf = out;
		r->rx_buf = in;
		r->tx_prod_sh = &intf->out_prod;
		r->tx_cons_sh = &intf->out_cons;
		r->rx_prod_sh = &intf->in_prod;
		r->rx_cons_sh = &intf->in_cons;
	}
	/* Load our own indexes once; from now on only the private copies count. */
	r->tx_prod = pvc_read_once(r->tx_prod_sh);
	r->rx_cons = pvc_read_once(r->rx_cons_sh);
	return 0;
}

uint32_t pvcalls_data_ring_size(const pvcalls_data_ring *r)
{
	return r->size;
}

/* Splits [idx, idx + len) of a ring of r->size bytes into <= 2 regions. */
static void make_spans(const pvcalls_data_ring *r, uint8_t *buf, uint32_t idx, uint32_t len,
		       struct iovec iov[2])
{
	uint32_t off = idx & (r->size - 1);
	uint32_t first = r->size - off;

	if (first > len)
		first = len;
	iov[0].iov_base = buf + off;
	iov[0].iov_len = first;
	iov[1].iov_base = buf;
	iov[1].iov_len = len - first;
	if (iov[1].iov_len == 0)
		iov[1].iov_base = NULL;
	if (first == 0)
		iov[0].iov_base = NULL;
}

static void zero_spans(struct iovec iov[2])
{
	iov[0].iov_base = iov[1].iov_base = NULL;
	iov[0].iov_len = iov[1].iov_len = 0;
}

/* Free bytes in tx, from one read of the peer's consumer index (D1). */
static int tx_free(pvcalls_data_ring *r)
{
	uint32_t cons = pvc_load_acquire(r->tx_cons_sh);
	uint32_t used = r->tx_prod - cons;

	if (used > r->size)
		return -EPROTO;
	return (int)(r->size - used);
}

/* Queued bytes in rx, from one read of the peer's producer index (D3). */
static int rx_queued(pvcalls_data_ring *r)
{
	uint32_t prod = pvc_load_acquire(r->rx_prod_sh);
	uint32_t queued = prod - r->rx_cons;

	if (queued > r->size)
		return -EPROTO;
	return (int)queued;
}

int pvcalls_data_tx_free(pvcalls_data_ring *r)
{
	return tx_free(r);
}

int pvcalls_data_rx_queued(pvcalls_data_ring *r)
{
	return rx_queued(r);
}

/*
 * prod - cons from the shared copies (D7), or -EPROTO. The consumer index
 * first: an honest producer is never behind a consumer index read
 * earlier, so the distance cannot go negative; it exceeds size only if a
 * whole ring went through between the loads.
 */
static int shared_distance(const uint32_t *prod, const uint32_t *cons, uint32_t size)
{
	uint32_t c = pvc_load_acquire(cons);
	uint32_t d = pvc_load_acquire(prod) - c;

	return d > size ? -EPROTO : (int)d;
}

int pvcalls_data_rx_queued_shared(const pvcalls_data_ring *r)
{
	return shared_distance(r->rx_prod_sh, r->rx_cons_sh, r->size);
}

int pvcalls_data_tx_free_shared(const pvcalls_data_ring *r)
{
	int used = shared_distance(r->tx_prod_sh, r->tx_cons_sh, r->size);

	return used < 0 ? used : (int)r->size - used;
}

int pvcalls_data_tx_spans(pvcalls_data_ring *r, struct iovec iov[2])
{
	int n = tx_free(r);

	if (n < 0) {
		zero_spans(iov);
		r->tx_avail = 0; /* nothing handed out: the next commit fails */
		return n;
	}
	make_spans(r, r->tx_buf, r->tx_prod, (uint32_t)n, iov);
	r->tx_avail = (uint32_t)n;
	return n;
}

int pvcalls_data_tx_commit(pvcalls_data_ring *r, uint32_t n)
{
	/* Only space handed out by tx_spans may be published: anything else
	 * would expose bytes the caller never wrote. */
	if (n > r->tx_avail)
		return -EINVAL;
	if (n == 0)
		return 0;
	r->tx_avail -= n;
	r->tx_prod += n;
	pvc_store_release(r->tx_prod_sh, r->tx_prod); /* D2 */
	return 0;
}

ssize_t pvcalls_data_write(pvcalls_data_ring *r, const void *buf, size_t len)
{
	struct iovec iov[2];
	int room = pvcalls_data_tx_spans(r, iov);
	size_t n, first;

	if (room < 0)
		return room;
	n = len < (size_t)room ? len : (size_t)room;
	if (n == 0)
		return 0;
	first = n < iov[0].iov_len ? n : iov[0].iov_len;
	memcpy(iov[0].iov_base, buf, first);
	if (n > first)
		memcpy(iov[1].iov_base, (const uint8_t *)buf + first, n - first);
	pvcalls_data_tx_commit(r, (uint32_t)n);
	return (ssize_t)n;
}

int pvcalls_data_rx_spans(pvcalls_data_ring *r, struct iovec iov[2])
{
	int n = rx_queued(r);

	if (n < 0) {
		zero_spans(iov);
		r->rx_avail = 0; /* nothing handed out: the next consume fails */
		return n;
	}
	make_spans(r, r->rx_buf, r->rx_cons, (uint32_t)n, iov);
	r->rx_avail = (uint32_t)n;
	return n;
}

int pvcalls_data_rx_consume(pvcalls_data_ring *r, uint32_t n)
{
	if (n > r->rx_avail)
		return -EINVAL;
	if (n == 0)
		return 0;
	r->rx_avail -= n;
	r->rx_cons += n;
	pvc_store_release(r->rx_cons_sh, r->rx_cons); /* D4 */
	return 0;
}

ssize_t pvcalls_data_read(pvcalls_data_ring *r, void *buf, size_t len, unsigned flags)
{
	struct iovec iov[2];
	int queued = pvcalls_data_rx_spans(r, iov);
	size_t n, first;

	if (queued < 0)
		return queued;
	n = len < (size_t)queued ? len : (size_t)queued;
	if (n == 0)
		return 0;
	first = n < iov[0].iov_len ? n : iov[0].iov_len;
	memcpy(buf, iov[0].iov_base, first);
	if (n > first)
		memcpy((uint8_t *)buf + first, iov[1].iov_base, n - first);
	if (!(flags & PVCALLS_DATA_PEEK))
		pvcalls_data_rx_consume(r, (uint32_t)n);
	return (ssize_t)n;
}

int32_t pvcalls_data_rx_error(const pvcalls_data_ring *r)
{
	const int32_t *e = r->backend ? &r->intf->out_error : &r->intf->in_error;

	return pvc_load_acquire(e); /* D6 */
}

int32_t pvcalls_data_tx_error(const pvcalls_data_ring *r)
{
	const int32_t *e = r->backend ? &r->intf->in_error : &r->intf->out_error;

	return pvc_load_acquire(e);
}

void pvcalls_data_set_in_error(pvcalls_data_ring *r, int32_t wire_err)
{
	pvc_store_release(&r->intf->in_error, wire_err); /* D5 */
}

void pvcalls_data_set_out_error(pvcalls_data_ring *r, int32_t wire_err)
{
	pvc_store_release(&r->intf->out_error, wire_err);
}
