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
 * Transactions are optimistic and coarse: starting one snapshots the whole
 * tree and the store's generation (bumped by every committed change).
 * Operations in the transaction act on the snapshot and are logged. At
 * commit, a transaction that changed nothing always succeeds (it read a
 * consistent snapshot); one that changed something fails with -EAGAIN if
 * the generation moved, otherwise its log is replayed on the live tree,
 * which fires the watches. Replay cannot fail: with no intervening commit
 * it reproduces the snapshot exactly. Conflicts are therefore detected on
 * any concurrent commit, not per node, so callers may retry more than with
 * xenstored; correctness (serialisability) is the same.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "transport/shm/shm_priv.h"

/* Limits that keep a misbehaving guest from exhausting the hub. */
#define STORE_MAX_NODES 16384u
#define STORE_MAX_TXNS_PER_OWNER 8u
#define STORE_MAX_WATCHES_PER_OWNER 128u

struct node {
	struct node *parent;
	struct node *child; /* first child */
	struct node *last;  /* last child, for insertion order */
	struct node *next;  /* sibling */
	char *value;
	char name[];
};

struct txn_op {
	struct txn_op *next;
	char *path;
	char *value; /* NULL: rm */
};

struct txn {
	struct txn *next;
	void *owner;
	uint32_t id;
	uint64_t gen;
	struct node *root;
	unsigned nr_nodes;
	struct txn_op *ops, *ops_tail;
};

struct watch {
	struct watch *next;
	void *owner;
	char *path;
	char *token;
};

struct shm_store {
	pthread_mutex_t lock;
	struct node *root;
	unsigned nr_nodes;
	uint64_t gen;
	uint32_t next_txn;
	struct txn *txns;
	struct watch *watches;
	shm_watch_fn fn;
	void *arg;
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

static void node_free(struct node *n)
{
	while (n) {
		struct node *next = n->next;

		node_free(n->child);
		free(n->value);
		free(n);
		n = next;
	}
}

static unsigned node_count(const struct node *n)
{
	unsigned c = 0;

	for (; n; n = n->next)
		c += 1 + node_count(n->child);
	return c;
}

static struct node *node_clone(const struct node *n, struct node *parent)
{
	struct node *c = node_new(n->name, strlen(n->name), n->value), *k, *prev = NULL;

	if (!c)
		return NULL;
	c->parent = parent;
	for (const struct node *s = n->child; s; s = s->next) {
		k = node_clone(s, c);
		if (!k) {
			node_free(c);
			return NULL;
		}
		if (prev)
			prev->next = k;
		else
			c->child = k;
		prev = k;
	}
	c->last = prev;
	return c;
}

static struct node *child_find(struct node *n, const char *name, size_t len)
{
	for (struct node *c = n->child; c; c = c->next)
		if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
			return c;
	return NULL;
}

/* Walks @path; *@missing counts the components that do not exist. */
static struct node *lookup(struct node *root, const char *path, unsigned *missing)
{
	struct node *n = root;
	const char *s = path + 1;

	if (missing)
		*missing = 0;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		struct node *c = n ? child_find(n, s, len) : NULL;

		if (!c && missing)
			(*missing)++;
		n = c;
		s += len;
		if (*s == '/')
			s++;
	}
	return n;
}

static int tree_write(struct node *root, unsigned *nr_nodes, const char *path, const char *value)
{
	struct node *n = root;
	const char *s = path + 1;
	unsigned missing;
	char *v;

	lookup(root, path, &missing);
	if (*nr_nodes + missing > STORE_MAX_NODES)
		return -ENOSPC;
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		struct node *c = child_find(n, s, len);

		if (!c) {
			c = node_new(s, len, "");
			if (!c) {
				free(v);
				return -ENOMEM;
			}
			c->parent = n;
			if (n->last)
				n->last->next = c;
			else
				n->child = c;
			n->last = c;
			(*nr_nodes)++;
		}
		n = c;
		s += len;
		if (*s == '/')
			s++;
	}
	free(n->value);
	n->value = v;
	return 0;
}

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

static void fire(struct shm_store *st, struct watch *w, const char *path)
{
	st->fn(st->arg, w->owner, path, w->path, w->token);
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
	struct node *n = lookup(st->root, path, NULL);

	if (!n)
		return -ENOENT;
	if (n == st->root)
		return -EINVAL;
	for (struct watch *w = st->watches; w; w = w->next) {
		if (is_prefix(w->path, path))
			fire(st, w, path);
		else if (is_prefix(path, w->path) && lookup(st->root, w->path, NULL))
			fire(st, w, w->path);
	}
	tree_unlink(n);
	st->nr_nodes -= node_count(n->child) + 1;
	node_free(n);
	st->gen++;
	return 0;
}

static int live_write(struct shm_store *st, const char *path, const char *value)
{
	int rc = tree_write(st->root, &st->nr_nodes, path, value);

	if (!rc) {
		st->gen++;
		fire_write(st, path);
	}
	return rc;
}

struct shm_store *pvc_shm_store_new(shm_watch_fn fn, void *arg)
{
	struct shm_store *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->root = node_new("", 0, "");
	if (!st->root) {
		free(st);
		return NULL;
	}
	st->nr_nodes = 1;
	st->next_txn = 1;
	st->fn = fn;
	st->arg = arg;
	pthread_mutex_init(&st->lock, NULL);
	return st;
}

static void txn_free(struct txn *t)
{
	while (t->ops) {
		struct txn_op *o = t->ops;

		t->ops = o->next;
		free(o->path);
		free(o->value);
		free(o);
	}
	node_free(t->root);
	free(t);
}

static void watch_free(struct watch *w)
{
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
		txn_free(t);
	}
	while (st->watches) {
		struct watch *w = st->watches;

		st->watches = w->next;
		watch_free(w);
	}
	node_free(st->root);
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

/* Resolves the tree an operation acts on. Lock held. */
static int resolve(struct shm_store *st, void *owner, uint32_t txn, struct txn **tp,
		   struct node **root)
{
	*tp = NULL;
	*root = st->root;
	if (txn == PVCALLS_STORE_NO_TXN)
		return 0;
	*tp = txn_find(st, owner, txn);
	if (!*tp)
		return -ENOENT;
	*root = (*tp)->root;
	return 0;
}

int pvc_shm_store_read(struct shm_store *st, void *owner, uint32_t txn, const char *path,
		       char *buf, size_t buflen)
{
	struct node *root, *n;
	struct txn *t;
	size_t len;
	int rc;

	if (!pvc_shm_path_valid(path))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	rc = resolve(st, owner, txn, &t, &root);
	if (rc)
		goto out;
	n = lookup(root, path, NULL);
	if (!n) {
		rc = -ENOENT;
		goto out;
	}
	len = strlen(n->value);
	if (len + 1 > buflen) {
		rc = -ERANGE;
		goto out;
	}
	memcpy(buf, n->value, len + 1);
	rc = (int)len;
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static int log_op(struct txn *t, const char *path, const char *value)
{
	struct txn_op *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	o->path = strdup(path);
	o->value = value ? strdup(value) : NULL;
	if (!o->path || (value && !o->value)) {
		free(o->path);
		free(o->value);
		free(o);
		return -ENOMEM;
	}
	if (t->ops_tail)
		t->ops_tail->next = o;
	else
		t->ops = o;
	t->ops_tail = o;
	return 0;
}

static void log_drop_tail(struct txn *t, struct txn_op *prev)
{
	struct txn_op *o = t->ops_tail;

	if (prev)
		prev->next = NULL;
	else
		t->ops = NULL;
	t->ops_tail = prev;
	free(o->path);
	free(o->value);
	free(o);
}

int pvc_shm_store_write(struct shm_store *st, void *owner, uint32_t txn, const char *path,
			const char *value)
{
	struct txn_op *prev;
	struct node *root;
	struct txn *t;
	int rc;

	if (!pvc_shm_path_valid(path) || !value || strlen(value) >= PVCALLS_STORE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	rc = resolve(st, owner, txn, &t, &root);
	if (rc)
		goto out;
	if (!t) {
		rc = live_write(st, path, value);
		goto out;
	}
	prev = t->ops_tail;
	rc = log_op(t, path, value);
	if (!rc) {
		rc = tree_write(t->root, &t->nr_nodes, path, value);
		if (rc)
			log_drop_tail(t, prev); /* keep the log in step with the snapshot */
	}
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_rm(struct shm_store *st, void *owner, uint32_t txn, const char *path)
{
	struct node *root, *n;
	struct txn *t;
	int rc;

	if (!pvc_shm_path_valid(path) || !strcmp(path, "/"))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	rc = resolve(st, owner, txn, &t, &root);
	if (rc)
		goto out;
	if (!t) {
		rc = live_rm(st, path);
		goto out;
	}
	n = lookup(t->root, path, NULL);
	if (!n) {
		rc = -ENOENT;
		goto out;
	}
	rc = log_op(t, path, NULL);
	if (rc)
		goto out;
	tree_unlink(n);
	t->nr_nodes -= node_count(n->child) + 1;
	node_free(n);
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_dir(struct shm_store *st, void *owner, uint32_t txn, const char *path,
		      char *buf, size_t buflen)
{
	struct node *root, *n;
	struct txn *t;
	size_t off = 0;
	int rc, count = 0;

	if (!pvc_shm_path_valid(path))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	rc = resolve(st, owner, txn, &t, &root);
	if (rc)
		goto out;
	n = lookup(root, path, NULL);
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
	struct txn *t;
	unsigned n = 0;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	for (t = st->txns; t; t = t->next)
		n += t->owner == owner;
	if (n >= STORE_MAX_TXNS_PER_OWNER) {
		rc = -EBUSY;
		goto out;
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->root = node_clone(st->root, NULL))) {
		free(t);
		rc = -ENOMEM;
		goto out;
	}
	t->owner = owner;
	t->gen = st->gen;
	t->nr_nodes = st->nr_nodes;
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
	struct txn **pp, *t;
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
	if (abort || !t->ops)
		goto done;
	if (t->gen != st->gen) {
		rc = -EAGAIN;
		goto done;
	}
	for (struct txn_op *o = t->ops; o; o = o->next) {
		int r = o->value ? live_write(st, o->path, o->value) : live_rm(st, o->path);

		if (r)
			pvc_err("shm.store", "transaction replay of %s failed: %d", o->path, r);
	}
done:
	txn_free(t);
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_watch(struct shm_store *st, void *owner, const char *path, const char *token)
{
	struct watch *w;
	unsigned n = 0;
	int rc = 0;

	if (!pvc_shm_path_valid(path) || !token || strlen(token) >= PVCALLS_STORE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	for (w = st->watches; w; w = w->next) {
		if (w->owner != owner)
			continue;
		n++;
		if (!strcmp(w->path, path) && !strcmp(w->token, token)) {
			rc = -EEXIST;
			goto out;
		}
	}
	/* Guests are bounded; the hub's own process (a backend watching one
	 * node per frontend) is trusted and only bounded by memory. */
	if (owner && n >= STORE_MAX_WATCHES_PER_OWNER) {
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
	w->next = st->watches;
	st->watches = w;
	fire(st, w, path); /* once at registration, as xenstore does */
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int pvc_shm_store_unwatch(struct shm_store *st, void *owner, const char *path,
			  const char *token)
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

int pvc_shm_store_batch(struct shm_store *st, const char *const *paths,
			const char *const *values, unsigned n)
{
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	for (unsigned i = 0; i < n && !rc; i++) {
		if (values[i]) {
			rc = live_write(st, paths[i], values[i]);
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
			txn_free(t);
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
	pthread_mutex_unlock(&st->lock);
}
