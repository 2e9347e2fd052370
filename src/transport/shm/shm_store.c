/* SPDX-License-Identifier: MIT */
/*
 * The store the hub serves: a tree of nodes with string values, watches and
 * transactions, under one mutex.
 *
 * Watches fire through a callback (called with the store lock held) once
 * when registered and then once per change at or below their path: a write
 * fires watches on the written path and its ancestors with the written
 * path; a removal also fires watches on removed descendants with their own
 * path, as xenstored does.
 *
 * Quotas. Guests are hostile, so everything a guest makes the hub keep is
 * charged to the guest's account (struct acct, one per owner) and bounded
 * per guest: nodes, bytes (names, values, a fixed NODE_OVERHEAD per node,
 * watches, open transaction logs), watches and open transactions. A node
 * is charged to whoever wrote its value last (the hub: nobody); guests may
 * only write below their own /local/domain/<G>, so all a guest is charged
 * for goes when its directory is removed at its death. There is no global
 * node limit any more: one guest filling it locked every other guest out
 * of its device (issue 13, attack 2); the caps on connections times the
 * per-guest quota bound the total instead. Errors follow xenstored: over
 * the node, byte or watch quota -ENOSPC, too many transactions -EBUSY.
 * The hub's own calls (owner NULL) are trusted and have no quota.
 *
 * Transactions are optimistic and cost what they change, not the size of
 * the tree (issue 13, attack 3: each transaction used to clone the whole
 * tree). A transaction is a log of its writes and removals; reads and
 * directory listings inside it are answered from the live tree overlaid
 * with the log. A transaction records the store's generation (bumped by
 * every committed change) at start. An operation that runs after the
 * generation moved may see newer data than the earlier ones, so it dooms
 * the transaction; as long as the generation has not moved, the live
 * tree is exactly the snapshot the transaction started from. At commit:
 * a doomed transaction fails with -EAGAIN; one that changed nothing
 * succeeds (it saw a consistent snapshot); one that changed something
 * fails with -EAGAIN if the generation moved, otherwise its log is
 * replayed on the live tree, which fires the watches. Replay cannot fail:
 * it acts on the very tree the log was checked against, the quota the
 * changes need was reserved when they were logged, and the memory (values,
 * a node per path component) is allocated before the first change, so a
 * shortage fails the commit (-ENOMEM) with nothing applied. Conflicts are detected
 * on any concurrent commit, not per node, so callers may retry more than
 * with xenstored; correctness (serialisability) is the same.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "transport/shm/shm_priv.h"

/* Bytes charged per node (and per log entry, watch) beyond its strings: the
 * allocations' own cost, so that the byte quota bounds real memory. */
#define NODE_OVERHEAD 128u
/* Operations in one guest transaction: reads in it scan the log. */
#define TXN_MAX_OPS 1024u

/* What one owner (a guest) holds in the store. */
struct acct {
	struct acct *next; /* in st->accts until the owner is dropped */
	void *owner;
	size_t bytes;   /* charged: nodes, watches, transaction logs */
	size_t rbytes;  /* reserved by open transactions for their commit */
	unsigned nodes; /* charged nodes */
	unsigned rnodes;
	unsigned watches;
	unsigned txns;
	bool dropped; /* owner gone; freed when nothing is charged any more */
};

struct node {
	struct node *parent;
	struct node *child; /* first child */
	struct node *last;  /* last child, for insertion order */
	struct node *next;  /* sibling */
	struct acct *acct;  /* charged to; NULL: the hub */
	char *value;
	char name[];
};

struct txn_op {
	char *path;
	char *value; /* NULL: rm */
};

struct txn {
	struct txn *next;
	void *owner;
	struct acct *acct; /* NULL: the hub */
	uint32_t id;
	uint64_t gen;
	bool doomed; /* an operation ran after a concurrent commit */
	struct txn_op *ops;
	unsigned nr_ops, cap_ops;
	size_t log_bytes; /* charged to acct->bytes */
	size_t rbytes;    /* reserved in acct->rbytes */
	unsigned rnodes;  /* reserved in acct->rnodes */
};

struct watch {
	struct watch *next;
	void *owner;
	struct acct *acct;
	char *path;
	char *token;
	bool missed; /* an event could not be delivered: fired again */
};

struct shm_store {
	pthread_mutex_t lock;
	struct node *root;
	uint64_t gen;
	uint32_t next_txn;
	struct txn *txns;
	struct watch *watches;
	struct acct *accts;
	struct shm_store_quota q;
	shm_watch_fn fn;
	void *arg;
	bool missed; /* some watch is missed */
};

bool pvc_shm_path_valid(const char *path)
{
	size_t len;
	const char *s;

	if (!path || path[0] != '/')
		return false;
	len = strlen(path);
	if (len >= PVCALLS_STORE_MAX || (len > 1 && path[len - 1] == '/'))
		return false;
	for (s = path; *s; s++) {
		char ch = *s;

		if (ch == '/' && s[1] == '/')
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '/' || ch == '-' || ch == '_' ||
		      ch == '@' || ch == '.'))
			return false;
	}
	return true;
}

/* @a is @b or an ancestor of it (component-wise). */
static bool is_prefix(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (n == 1) /* "/" */
		return true;
	return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

/* ------------------------------------------------------------------------
 * Accounts.
 */

static size_t cost_of(size_t namelen, size_t vallen)
{
	return NODE_OVERHEAD + namelen + 1 + vallen + 1;
}

static size_t node_cost(const struct node *n)
{
	return cost_of(strlen(n->name), strlen(n->value));
}

/* The account of @owner (created on first use); NULL for the hub. Lock held. */
static int acct_get(struct shm_store *st, void *owner, struct acct **out)
{
	struct acct *a;

	*out = NULL;
	if (!owner)
		return 0;
	for (a = st->accts; a; a = a->next) {
		if (a->owner == owner) {
			*out = a;
			return 0;
		}
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->owner = owner;
	a->next = st->accts;
	st->accts = a;
	*out = a;
	return 0;
}

/* A dropped owner's account lives while nodes are still charged to it. */
static void acct_maybe_free(struct acct *a)
{
	if (a && a->dropped && !a->nodes && !a->bytes && !a->rbytes && !a->rnodes)
		free(a);
}

/* Would @dn more nodes and @db more bytes fit @a's quota? */
static bool quota_ok(const struct shm_store *st, const struct acct *a, size_t dn, size_t db)
{
	if (!a)
		return true;
	return (size_t)a->nodes + a->rnodes + dn <= st->q.nodes &&
	       a->bytes + a->rbytes + db <= st->q.bytes;
}

static void charge(struct node *n, struct acct *a)
{
	n->acct = a;
	if (a) {
		a->nodes++;
		a->bytes += node_cost(n);
	}
}

static void uncharge(struct node *n)
{
	struct acct *a = n->acct;

	if (!a)
		return;
	a->nodes--;
	a->bytes -= node_cost(n);
	n->acct = NULL;
	acct_maybe_free(a);
}

/* ------------------------------------------------------------------------
 * The tree.
 */

static struct node *node_new(const char *name, size_t nlen, const char *value)
{
	struct node *n = calloc(1, sizeof(*n) + nlen + 1);

	if (!n)
		return NULL;
	memcpy(n->name, name, nlen);
	n->value = strdup(value ? value : "");
	if (!n->value) {
		free(n);
		return NULL;
	}
	return n;
}

/* Frees @n, its siblings after it and all their descendants. */
static void node_free(struct node *n)
{
	while (n) {
		struct node *next = n->next;

		node_free(n->child);
		uncharge(n);
		free(n->value);
		free(n);
		n = next;
	}
}

static struct node *child_find(struct node *n, const char *name, size_t len)
{
	for (struct node *c = n->child; c; c = c->next)
		if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
			return c;
	return NULL;
}

static struct node *lookup(struct node *root, const char *path)
{
	struct node *n = root;
	const char *s = path + 1;

	while (*s && n) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		n = child_find(n, s, len);
		s += len;
		if (*s == '/')
			s++;
	}
	return n;
}

/*
 * What writing @value at @path costs @a: *@dn new nodes, *@db bytes
 * (exact; may be below zero when a shorter value replaces @a's own).
 */
static void write_delta(struct node *root, const char *path, const char *value,
			const struct acct *a, size_t *dn, long *db)
{
	size_t vlen = strlen(value);
	struct node *n = root;
	const char *s = path + 1;

	*dn = 0;
	*db = 0;
	if (!*s) {
		*db = (long)cost_of(0, vlen) - (root->acct == a ? (long)node_cost(root) : 0);
		return;
	}
	while (*s) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		bool last = !e;
		struct node *c = n ? child_find(n, s, len) : NULL;

		if (!c) {
			(*dn)++;
			*db += (long)cost_of(len, last ? vlen : 0);
		} else if (last) {
			*db += (long)cost_of(len, vlen) - (c->acct == a ? (long)node_cost(c) : 0);
		}
		n = c;
		s += len;
		if (*s == '/')
			s++;
	}
}

/* Takes @n, with its subtree, out of its parent's children. */
static void tree_unlink(struct node *n)
{
	struct node *p = n->parent, **pp, *prev = NULL;

	for (pp = &p->child; *pp != n; pp = &(*pp)->next)
		prev = *pp;
	*pp = n->next;
	if (p->last == n)
		p->last = prev;
	n->next = NULL;
}

/*
 * Writes @v (taken over) at @path. With @pool (one node per component of
 * @path, from prep_write()), missing nodes are taken from it and nothing
 * is allocated, so it cannot fail; without, they are allocated here, and
 * a failure removes the ones this call added.
 */
static int tree_put(struct node *root, const char *path, char *v, struct node **pool,
		    struct acct *a)
{
	struct node *n = root, *top = NULL; /* top: the first node this call added */
	const char *s = path + 1;

	for (unsigned k = 0; *s; k++) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		struct node *c = child_find(n, s, len);

		if (!c) {
			if (pool) {
				c = pool[k];
				pool[k] = NULL;
			} else {
				c = node_new(s, len, "");
			}
			if (!c) {
				/* Whole or not at all: the nodes added so far hang
				 * from top alone; they go, uncharged. */
				if (top) {
					tree_unlink(top);
					node_free(top);
				}
				free(v);
				return -ENOMEM;
			}
			c->parent = n;
			if (n->last)
				n->last->next = c;
			else
				n->child = c;
			n->last = c;
			charge(c, a);
			if (!top)
				top = c;
		}
		n = c;
		s += len;
		if (*s == '/')
			s++;
	}
	/* The value's bytes go to the last writer. */
	uncharge(n);
	free(n->value);
	n->value = v;
	charge(n, a);
	return 0;
}

/* Writes @value at @path, creating missing nodes, charging @a; on -ENOMEM
 * the tree is as it was. */
static int tree_write(struct node *root, const char *path, const char *value, struct acct *a)
{
	char *v = strdup(value);

	return v ? tree_put(root, path, v, NULL, a) : -ENOMEM;
}

/* What one logged write needs to be replayed without allocating. */
struct prepared {
	char *v;
	struct node **pool; /* a node per component of the path */
	unsigned np;
};

static void prep_free(struct prepared *p)
{
	for (unsigned k = 0; k < p->np; k++) {
		if (p->pool[k]) {
			free(p->pool[k]->value);
			free(p->pool[k]);
		}
	}
	free(p->pool);
	free(p->v);
	p->pool = NULL;
	p->v = NULL;
	p->np = 0;
}

/* Allocates @p for writing @value at @path: 0 or -ENOMEM (then nothing
 * is left allocated). */
static int prep_write(struct prepared *p, const char *path, const char *value)
{
	const char *s = path + 1;

	for (const char *c = s; *c; c++)
		p->np += *c == '/';
	p->np += *s != '\0';
	p->v = strdup(value);
	p->pool = calloc(p->np ? p->np : 1, sizeof(*p->pool));
	if (!p->v || !p->pool)
		goto fail;
	for (unsigned k = 0; *s; k++) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		p->pool[k] = node_new(s, len, "");
		if (!p->pool[k])
			goto fail;
		s += len;
		if (*s == '/')
			s++;
	}
	return 0;
fail:
	if (!p->pool)
		p->np = 0;
	prep_free(p);
	return -ENOMEM;
}

/*
 * An event the callback could not queue (no memory) is not lost: the
 * watch is marked and pvc_shm_store_refire() fires it again with its own
 * path, which tells the watcher "something at or below changed", as the
 * event it stands for did (watchers re-read what they watch).
 */
static void fire(struct shm_store *st, struct watch *w, const char *path)
{
	if (st->fn(st->arg, w->owner, path, w->path, w->token) < 0)
		w->missed = st->missed = true;
}

bool pvc_shm_store_refire(struct shm_store *st)
{
	bool left = false;

	pthread_mutex_lock(&st->lock);
	if (st->missed) {
		for (struct watch *w = st->watches; w; w = w->next) {
			if (!w->missed)
				continue;
			w->missed = st->fn(st->arg, w->owner, w->path, w->path, w->token) < 0;
			left |= w->missed;
		}
		st->missed = left;
	}
	pthread_mutex_unlock(&st->lock);
	return left;
}

static void fire_write(struct shm_store *st, const char *path)
{
	for (struct watch *w = st->watches; w; w = w->next)
		if (is_prefix(w->path, path))
			fire(st, w, path);
}

/* Removes @path from the live tree and fires watches. Lock held. */
static int live_rm(struct shm_store *st, const char *path)
{
	struct node *n = lookup(st->root, path);

	if (!n)
		return -ENOENT;
	if (n == st->root)
		return -EINVAL;
	for (struct watch *w = st->watches; w; w = w->next) {
		if (is_prefix(w->path, path))
			fire(st, w, path);
		else if (is_prefix(path, w->path) && lookup(st->root, w->path))
			fire(st, w, w->path);
	}
	tree_unlink(n);
	node_free(n);
	st->gen++;
	return 0;
}

static int live_write(struct shm_store *st, const char *path, const char *value, struct acct *a)
{
	int rc = tree_write(st->root, path, value, a);

	if (!rc) {
		st->gen++;
		fire_write(st, path);
	}
	return rc;
}

struct shm_store *pvc_shm_store_new(shm_watch_fn fn, void *arg, const struct shm_store_quota *q)
{
	struct shm_store *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->root = node_new("", 0, "");
	if (!st->root) {
		free(st);
		return NULL;
	}
	st->next_txn = 1;
	st->q = *q;
	st->fn = fn;
	st->arg = arg;
	pthread_mutex_init(&st->lock, NULL);
	return st;
}

/* ------------------------------------------------------------------------
 * Transactions: a log over the live tree.
 */

static size_t op_cost(const char *path, const char *value)
{
	return NODE_OVERHEAD + strlen(path) + 1 + (value ? strlen(value) + 1 : 0);
}

/* Returns what @t reserved and logged to its account. Lock held. */
static void txn_release(struct txn *t)
{
	struct acct *a = t->acct;

	if (a) {
		a->rnodes -= t->rnodes;
		a->rbytes -= t->rbytes;
		a->bytes -= t->log_bytes;
		a->txns--;
	}
	t->rnodes = 0;
	t->rbytes = 0;
	t->log_bytes = 0;
	t->acct = NULL;
	acct_maybe_free(a);
}

static void txn_destroy(struct txn *t)
{
	for (unsigned i = 0; i < t->nr_ops; i++) {
		free(t->ops[i].path);
		free(t->ops[i].value);
	}
	free(t->ops);
	free(t);
}

static int txn_log(struct txn *t, const char *path, const char *value)
{
	struct txn_op o = { strdup(path), value ? strdup(value) : NULL };

	if (!o.path || (value && !o.value))
		goto nomem;
	if (t->nr_ops == t->cap_ops) {
		unsigned cap = t->cap_ops ? 2 * t->cap_ops : 8;
		struct txn_op *ops = realloc(t->ops, cap * sizeof(*ops));

		if (!ops)
			goto nomem;
		t->ops = ops;
		t->cap_ops = cap;
	}
	t->ops[t->nr_ops++] = o;
	return 0;
nomem:
	free(o.path);
	free(o.value);
	return -ENOMEM;
}

/*
 * @path as @t sees it: the live tree (equal to @t's snapshot while @t is
 * not doomed) under @t's log. The newest logged write of @path decides;
 * a logged write below @path makes it exist (created empty if it did not);
 * a logged removal of @path or an ancestor hides the older state.
 */
static bool txn_view(struct shm_store *st, struct txn *t, const char *path, const char **val)
{
	bool implied = false;
	struct node *n;

	for (unsigned i = t->nr_ops; i-- > 0;) {
		const struct txn_op *o = &t->ops[i];

		if (o->value) {
			if (!strcmp(o->path, path)) {
				*val = o->value;
				return true;
			}
			if (is_prefix(path, o->path))
				implied = true;
		} else if (is_prefix(o->path, path)) {
			*val = "";
			return implied;
		}
	}
	n = lookup(st->root, path);
	*val = n ? n->value : "";
	return n || implied;
}

/* Components of @p: "/" has none, "/a/b" two. */
static unsigned comps(const char *p)
{
	unsigned n = 0;

	if (!p[1])
		return 0;
	for (; *p; p++)
		n += *p == '/';
	return n;
}

/* How many leading components @a and @b have in common. */
static unsigned common_comps(const char *a, const char *b)
{
	unsigned n = 0;

	if (!a[1] || !b[1])
		return 0;
	for (size_t i = 1;; i++) {
		char x = a[i], y = b[i];
		bool ex = x == '/' || x == '\0', ey = y == '/' || y == '\0';

		if (ex && ey) {
			n++;
			if (!x || !y)
				return n;
		} else if (x != y) {
			return n;
		}
	}
}

/*
 * Upper bound of what a logged write costs at commit (see write_delta()),
 * in one pass over the log: the newest op touching prefix k of @path
 * decides whether it exists. A write decides every prefix it lies under
 * (exists), a removal every prefix at or below it (absent); what stays
 * undecided is always a middle range [lo, hi], answered by the live tree.
 */
static void txn_write_delta(struct shm_store *st, struct txn *t, const char *path,
			    const char *value, size_t *dn, size_t *db)
{
	unsigned char miss[PVCALLS_STORE_MAX / 2 + 2] = { 0 };
	unsigned depth = comps(path), lo = 1, hi = depth, k;
	struct node *n = st->root;
	const char *s = path + 1;

	for (unsigned i = t->nr_ops; i-- > 0 && lo <= hi;) {
		const struct txn_op *o = &t->ops[i];
		unsigned m = common_comps(o->path, path), r;

		if (o->value) {
			if (m >= lo)
				lo = m + 1;
			continue;
		}
		r = comps(o->path);
		if (m != r)
			continue;
		for (k = r > lo ? r : lo; k <= hi; k++)
			miss[k] = 1;
		if (r - 1 < hi)
			hi = r - 1;
	}
	*dn = 0;
	*db = cost_of(0, strlen(value)); /* the written node itself, in full */
	for (k = 1; *s; k++) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		/* Undecided: as in the live tree. */
		n = n ? child_find(n, s, len) : NULL;
		if (k >= lo && k <= hi)
			miss[k] = !n;
		if (miss[k]) {
			(*dn)++;
			*db += cost_of(len, 0);
		} else if (!e) {
			*db += len;
		}
		s += len;
		if (*s == '/')
			s++;
	}
}

struct dir_dec {
	const char *name;
	size_t len;
	bool exists;
};

static struct dir_dec *dec_find(struct dir_dec *d, unsigned nd, const char *name, size_t len)
{
	for (unsigned i = 0; i < nd; i++)
		if (d[i].len == len && !memcmp(d[i].name, name, len))
			return &d[i];
	return NULL;
}

static int dir_put(char *buf, size_t buflen, size_t *off, const char *name, size_t len)
{
	if (*off + len + 1 > buflen)
		return -ERANGE;
	memcpy(buf + *off, name, len);
	buf[*off + len] = '\0';
	*off += len + 1;
	return 0;
}

/*
 * Lists @t's children of @path into @buf (see pvc_shm_store_dir()), in one
 * pass over the log: the newest op touching a child decides whether it
 * exists; a removal of @path or above hides every live child.
 */
static int txn_dir(struct shm_store *st, struct txn *t, const char *path, char *buf, size_t buflen)
{
	unsigned pc = comps(path), nd = 0;
	struct dir_dec *dec = NULL;
	bool wiped = false;
	struct node *n;
	const char *v;
	size_t off = 0;
	int rc = 0, count = 0;

	if (!txn_view(st, t, path, &v))
		return -ENOENT;
	if (t->nr_ops && !(dec = malloc(t->nr_ops * sizeof(*dec))))
		return -ENOMEM;
	for (unsigned i = t->nr_ops; i-- > 0 && !wiped;) {
		const struct txn_op *o = &t->ops[i];
		unsigned m = common_comps(o->path, path), oc = comps(o->path);
		const char *name, *e;
		size_t len;

		if (m == oc && oc <= pc) {
			wiped = !o->value; /* @path or an ancestor removed */
			continue;
		}
		if (m != pc || (!o->value && oc != pc + 1))
			continue;
		name = o->path + (pc ? strlen(path) : 0) + 1;
		e = strchr(name, '/');
		len = e ? (size_t)(e - name) : strlen(name);
		if (!dec_find(dec, nd, name, len))
			dec[nd++] = (struct dir_dec){ name, len, o->value != NULL };
	}
	/* Live children first, in order, then the ones the log creates. */
	n = wiped ? NULL : lookup(st->root, path);
	for (struct node *c = n ? n->child : NULL; c && !rc; c = c->next) {
		size_t len = strlen(c->name);
		struct dir_dec *d = dec_find(dec, nd, c->name, len);

		if (!d || d->exists) {
			rc = dir_put(buf, buflen, &off, c->name, len);
			count++;
		}
	}
	for (unsigned i = 0; i < nd && !rc; i++) {
		if (!dec[i].exists || (n && child_find(n, dec[i].name, dec[i].len)))
			continue;
		rc = dir_put(buf, buflen, &off, dec[i].name, dec[i].len);
		count++;
	}
	free(dec);
	return rc ? rc : count;
}

static void watch_free(struct watch *w)
{
	struct acct *a = w->acct;

	if (a) {
		a->watches--;
		a->bytes -= op_cost(w->path, w->token);
		acct_maybe_free(a);
	}
	free(w->path);
	free(w->token);
	free(w);
}

void pvc_shm_store_free(struct shm_store *st)
{
	if (!st)
		return;
	while (st->txns) {
		struct txn *t = st->txns;

		st->txns = t->next;
		txn_release(t);
		txn_destroy(t);
	}
	while (st->watches) {
		struct watch *w = st->watches;

		st->watches = w->next;
		watch_free(w);
	}
	node_free(st->root);
	while (st->accts) {
		struct acct *a = st->accts;

		st->accts = a->next;
		free(a);
	}
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static struct txn *txn_find(struct shm_store *st, void *owner, uint32_t id)
{
	for (struct txn *t = st->txns; t; t = t->next)
		if (t->id == id && t->owner == owner)
			return t;
	return NULL;
}

/*
 * Resolves the transaction an operation acts in (NULL: none). An operation
 * after a concurrent commit may see data newer than the transaction's
 * earlier ones did: it dooms the transaction. Lock held.
 */
static int resolve(struct shm_store *st, void *owner, uint32_t txn, struct txn **tp)
{
	*tp = NULL;
	if (txn == PVCALLS_STORE_NO_TXN)
		return 0;
	*tp = txn_find(st, owner, txn);
	if (!*tp)
		return -ENOENT;
	if ((*tp)->gen != st->gen)
		(*tp)->doomed = true;
	return 0;
}

int pvc_shm_store_read(struct shm_store *st, void *owner, uint32_t txn, const char *path, char *buf,
		       size_t buflen)
{
	const char *val = NULL;
	struct txn *t;
	size_t len;
	int rc;

	if (!pvc_shm_path_valid(path))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	rc = resolve(st, owner, txn, &t);
	if (rc)
		goto out;
	if (t) {
		if (!txn_view(st, t, path, &val))
			val = NULL;
	} else {
		struct node *n = lookup(st->root, path);

		val = n ? n->value : NULL;
	}
	if (!val) {
		rc = -ENOENT;
		goto out;
	}
	len = strlen(val);
	if (len + 1 > buflen) {
		rc = -ERANGE;
		goto out;
	}
	memcpy(buf, val, len + 1);
	rc = (int)len;
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_write(struct shm_store *st, void *owner, uint32_t txn, const char *path,
			const char *value)
{
	struct acct *a;
	struct txn *t;
	size_t dn, db, lb;
	long d;
	int rc;

	if (!pvc_shm_path_valid(path) || !value || strlen(value) >= PVCALLS_STORE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	rc = resolve(st, owner, txn, &t);
	if (!rc)
		rc = acct_get(st, owner, &a);
	if (rc)
		goto out;
	if (!t) {
		write_delta(st->root, path, value, a, &dn, &d);
		if (!quota_ok(st, a, dn, d > 0 ? (size_t)d : 0)) {
			rc = -ENOSPC;
			goto out;
		}
		rc = live_write(st, path, value, a);
		goto out;
	}
	/* Reserve now what the commit will charge: replay must not fail. */
	txn_write_delta(st, t, path, value, &dn, &db);
	lb = op_cost(path, value);
	if (a && (t->nr_ops >= TXN_MAX_OPS || !quota_ok(st, a, dn, db + lb))) {
		rc = -ENOSPC;
		goto out;
	}
	rc = txn_log(t, path, value);
	if (rc || !a)
		goto out;
	t->rnodes += (unsigned)dn;
	a->rnodes += (unsigned)dn;
	t->rbytes += db;
	a->rbytes += db;
	t->log_bytes += lb;
	a->bytes += lb;
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_rm(struct shm_store *st, void *owner, uint32_t txn, const char *path)
{
	struct acct *a;
	struct txn *t;
	const char *v;
	size_t lb;
	int rc;

	if (!pvc_shm_path_valid(path) || !strcmp(path, "/"))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	rc = resolve(st, owner, txn, &t);
	if (!rc)
		rc = acct_get(st, owner, &a);
	if (rc)
		goto out;
	if (!t) {
		rc = live_rm(st, path);
		goto out;
	}
	if (!txn_view(st, t, path, &v)) {
		rc = -ENOENT;
		goto out;
	}
	lb = op_cost(path, NULL);
	if (a && (t->nr_ops >= TXN_MAX_OPS || !quota_ok(st, a, 0, lb))) {
		rc = -ENOSPC;
		goto out;
	}
	rc = txn_log(t, path, NULL);
	if (!rc && a) {
		t->log_bytes += lb;
		a->bytes += lb;
	}
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_dir(struct shm_store *st, void *owner, uint32_t txn, const char *path, char *buf,
		      size_t buflen)
{
	struct node *n;
	struct txn *t;
	size_t off = 0;
	int rc, count = 0;

	if (!pvc_shm_path_valid(path))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	rc = resolve(st, owner, txn, &t);
	if (rc)
		goto out;
	if (t) {
		rc = txn_dir(st, t, path, buf, buflen);
		goto out;
	}
	n = lookup(st->root, path);
	if (!n) {
		rc = -ENOENT;
		goto out;
	}
	for (struct node *c = n->child; c; c = c->next) {
		size_t len = strlen(c->name) + 1;

		if (off + len > buflen) {
			rc = -ERANGE;
			goto out;
		}
		memcpy(buf + off, c->name, len);
		off += len;
		count++;
	}
	rc = count;
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_txn_start(struct shm_store *st, void *owner, uint32_t *txn)
{
	struct acct *a;
	struct txn *t;
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = acct_get(st, owner, &a);
	if (rc)
		goto out;
	if (a && a->txns >= st->q.txns) {
		rc = -EBUSY;
		goto out;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	/* O(1): the live tree is the snapshot until the next commit. */
	t->owner = owner;
	t->acct = a;
	if (a)
		a->txns++;
	t->gen = st->gen;
	do {
		t->id = st->next_txn++;
	} while (t->id == PVCALLS_STORE_NO_TXN || txn_find(st, owner, t->id));
	t->next = st->txns;
	st->txns = t;
	*txn = t->id;
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_txn_end(struct shm_store *st, void *owner, uint32_t txn, bool abort)
{
	struct prepared *pr;
	struct txn **pp, *t;
	struct acct *a;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	for (pp = &st->txns; (t = *pp); pp = &t->next)
		if (t->id == txn && t->owner == owner)
			break;
	if (!t) {
		rc = -ENOENT;
		goto out;
	}
	*pp = t->next;
	a = t->acct;
	/* The reservations become real charges during the replay. */
	txn_release(t);
	if (abort)
		goto done;
	if (t->doomed || (t->nr_ops && t->gen != st->gen)) {
		rc = -EAGAIN;
		goto done;
	}
	/* Replay cannot fail but for memory: everything the writes need is
	 * allocated first, and a shortage fails the commit with nothing
	 * applied (found by check_fault_alloc: a half-replayed transaction
	 * lost a state write and answered success). */
	pr = calloc(t->nr_ops ? t->nr_ops : 1, sizeof(*pr));
	if (!pr) {
		rc = -ENOMEM;
		goto done;
	}
	for (unsigned i = 0; i < t->nr_ops && !rc; i++)
		if (t->ops[i].value)
			rc = prep_write(&pr[i], t->ops[i].path, t->ops[i].value);
	for (unsigned i = 0; i < t->nr_ops && !rc; i++) {
		const struct txn_op *o = &t->ops[i];
		int r;

		if (o->value) {
			r = tree_put(st->root, o->path, pr[i].v, pr[i].pool, a);
			pr[i].v = NULL; /* taken over (freed on failure) */
			if (!r) {
				st->gen++;
				fire_write(st, o->path);
			}
		} else {
			r = live_rm(st, o->path);
		}
		if (r)
			pvc_err("shm.store", "transaction replay of %s failed: %d", o->path, r);
	}
	for (unsigned i = 0; i < t->nr_ops; i++)
		prep_free(&pr[i]);
	free(pr);
done:
	txn_destroy(t);
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_watch(struct shm_store *st, void *owner, const char *path, const char *token)
{
	struct acct *a;
	struct watch *w;
	int rc;

	if (!pvc_shm_path_valid(path) || !token || strlen(token) >= PVCALLS_STORE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	rc = acct_get(st, owner, &a);
	if (rc)
		goto out;
	for (w = st->watches; w; w = w->next) {
		if (w->owner == owner && !strcmp(w->path, path) && !strcmp(w->token, token)) {
			rc = -EEXIST;
			goto out;
		}
	}
	/* Guests are bounded; the hub's own process (a backend watching one
	 * node per frontend) is trusted and only bounded by memory. */
	if (a && (a->watches >= st->q.watches || !quota_ok(st, a, 0, op_cost(path, token)))) {
		rc = -ENOSPC;
		goto out;
	}
	w = calloc(1, sizeof(*w));
	if (w) {
		w->path = strdup(path);
		w->token = strdup(token);
	}
	if (!w || !w->path || !w->token) {
		if (w)
			watch_free(w);
		rc = -ENOMEM;
		goto out;
	}
	w->owner = owner;
	w->acct = a;
	if (a) {
		a->watches++;
		a->bytes += op_cost(path, token);
	}
	w->next = st->watches;
	st->watches = w;
	fire(st, w, path); /* once at registration, as xenstore does */
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_unwatch(struct shm_store *st, void *owner, const char *path, const char *token)
{
	struct watch **pp, *w;
	int rc = -ENOENT;

	if (!path || !token)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	for (pp = &st->watches; (w = *pp); pp = &w->next) {
		if (w->owner == owner && !strcmp(w->path, path) && !strcmp(w->token, token)) {
			*pp = w->next;
			watch_free(w);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_batch(struct shm_store *st, const char *const *paths, const char *const *values,
			unsigned n)
{
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	for (unsigned i = 0; i < n && !rc; i++) {
		if (values[i]) {
			rc = live_write(st, paths[i], values[i], NULL);
		} else {
			rc = live_rm(st, paths[i]);
			if (rc == -ENOENT)
				rc = 0;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

void pvc_shm_store_drop_owner(struct shm_store *st, void *owner)
{
	pthread_mutex_lock(&st->lock);
	for (struct txn **pp = &st->txns, *t; (t = *pp);) {
		if (t->owner == owner) {
			*pp = t->next;
			txn_release(t);
			txn_destroy(t);
		} else {
			pp = &t->next;
		}
	}
	for (struct watch **pp = &st->watches, *w; (w = *pp);) {
		if (w->owner == owner) {
			*pp = w->next;
			watch_free(w);
		} else {
			pp = &w->next;
		}
	}
	/*
	 * A new guest may get the same owner pointer: it must get a new
	 * account. This one lives on while nodes are charged to it, until the
	 * hub removes the guest's directory.
	 */
	for (struct acct **pp = &st->accts, *a; (a = *pp); pp = &a->next) {
		if (a->owner == owner) {
			*pp = a->next;
			a->owner = NULL;
			a->dropped = true;
			acct_maybe_free(a);
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
}
