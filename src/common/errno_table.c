/* SPDX-License-Identifier: MIT */
/*
 * The errno table: each host E* constant with its Linux number on the wire,
 * its name and the text of pvcalls_strerror(). proto/errno.c converts with
 * it; the audit names wire values with it.
 *
 * The wire carries Linux's asm-generic errno numbers (x86, Arm, RISC-V...).
 * Linux on MIPS, Alpha, SPARC and PA-RISC numbers many of them differently,
 * but Xen runs on none of those, so PV Calls peers always use these values.
 * The table pairs each Linux number (pvcalls/wire.h) with the host's E*
 * constant: the identity on Linux, correct elsewhere (entries the host lacks
 * are left out).
 *
 * All strings are static; nothing here is locale- or thread-dependent, which
 * is why strerror() (not thread-safe) and strerrordesc_np() (glibc only) are
 * not used.
 */
#include <errno.h>
#include <limits.h>

#include <pvcalls/common.h>
#include <pvcalls/wire.h>

#include "common/errno_table.h"

/* The wire number comes from pvcalls/wire.h, by name. */
#define E(e, d)                            \
	{                                  \
		e, PVCALLS_WIRE_##e, #e, d \
	}

static const struct pvc_errno_entry errtab[] = {
	E(EPERM, "operation not permitted"),
	E(ENOENT, "no such file or directory"),
	E(ESRCH, "no such process"),
	E(EINTR, "interrupted (or another ACCEPT or POLL was pending on the listener)"),
	E(EIO, "input/output error"),
	E(ENXIO, "no such device or address"),
	E(E2BIG, "argument list too long"),
	E(ENOEXEC, "exec format error"),
	E(EBADF, "bad file descriptor"),
	E(ECHILD, "no child processes"),
	E(EAGAIN, "resource temporarily unavailable"),
	E(ENOMEM, "out of memory"),
	E(EACCES, "permission denied"),
	E(EFAULT, "bad address (or the backend could not map the socket's rings)"),
#ifdef ENOTBLK
	E(ENOTBLK, "block device required"),
#endif
	E(EBUSY, "device or resource busy"),
	E(EEXIST, "already exists (or the socket id is already in use)"),
	E(EXDEV, "cross-device link"),
	E(ENODEV, "no such device"),
	E(ENOTDIR, "not a directory"),
	E(EISDIR, "is a directory"),
	E(EINVAL, "invalid argument"),
	E(ENFILE, "too many open files in the system"),
	E(EMFILE, "too many open files"),
	E(ENOTTY, "inappropriate ioctl for device"),
	E(ETXTBSY, "text file busy"),
	E(EFBIG, "file too large"),
	E(ENOSPC, "no space left"),
	E(ESPIPE, "illegal seek"),
	E(EROFS, "read-only file system"),
	E(EMLINK, "too many links"),
	E(EPIPE, "broken pipe"),
	E(EDOM, "argument out of domain"),
	E(ERANGE, "result out of range"),
	E(EDEADLK, "resource deadlock avoided"),
	E(ENAMETOOLONG, "file name too long"),
	E(ENOLCK, "no locks available"),
	E(ENOSYS, "function not implemented"),
	E(ENOTEMPTY, "directory not empty"),
	E(ELOOP, "too many levels of symbolic links"),
	E(ENOMSG, "no message of the desired type"),
	E(EIDRM, "identifier removed"),
#ifdef ECHRNG
	E(ECHRNG, "channel number out of range"),
#endif
#ifdef EL2NSYNC
	E(EL2NSYNC, "level 2 not synchronized"),
#endif
#ifdef EL3HLT
	E(EL3HLT, "level 3 halted"),
#endif
#ifdef EL3RST
	E(EL3RST, "level 3 reset"),
#endif
#ifdef ELNRNG
	E(ELNRNG, "link number out of range"),
#endif
#ifdef EUNATCH
	E(EUNATCH, "protocol driver not attached"),
#endif
#ifdef ENOCSI
	E(ENOCSI, "no CSI structure available"),
#endif
#ifdef EL2HLT
	E(EL2HLT, "level 2 halted"),
#endif
#ifdef EBADE
	E(EBADE, "invalid exchange"),
#endif
#ifdef EBADR
	E(EBADR, "invalid request descriptor"),
#endif
#ifdef EXFULL
	E(EXFULL, "exchange full"),
#endif
#ifdef ENOANO
	E(ENOANO, "no anode"),
#endif
#ifdef EBADRQC
	E(EBADRQC, "invalid request code"),
#endif
#ifdef EBADSLT
	E(EBADSLT, "invalid slot"),
#endif
#ifdef EBFONT
	E(EBFONT, "bad font file format"),
#endif
#ifdef ENOSTR
	E(ENOSTR, "not a stream device"),
#endif
#ifdef ENODATA
	E(ENODATA, "no data available"),
#endif
#ifdef ETIME
	E(ETIME, "timer expired"),
#endif
#ifdef ENOSR
	E(ENOSR, "out of stream resources"),
#endif
#ifdef ENONET
	E(ENONET, "machine is not on the network"),
#endif
#ifdef ENOPKG
	E(ENOPKG, "package not installed"),
#endif
#ifdef EREMOTE
	E(EREMOTE, "object is remote"),
#endif
#ifdef ENOLINK
	E(ENOLINK, "link has been severed"),
#endif
#ifdef EADV
	E(EADV, "advertise error"),
#endif
#ifdef ESRMNT
	E(ESRMNT, "srmount error"),
#endif
#ifdef ECOMM
	E(ECOMM, "communication error on send"),
#endif
	E(EPROTO, "peer violated the PV Calls protocol"),
#ifdef EMULTIHOP
	E(EMULTIHOP, "multihop attempted"),
#endif
#ifdef EDOTDOT
	E(EDOTDOT, "RFS specific error"),
#endif
	E(EBADMSG, "bad message"),
	E(EOVERFLOW, "value too large for defined data type"),
#ifdef ENOTUNIQ
	E(ENOTUNIQ, "name not unique on network"),
#endif
#ifdef EBADFD
	E(EBADFD, "file descriptor in bad state"),
#endif
#ifdef EREMCHG
	E(EREMCHG, "remote address changed"),
#endif
#ifdef ELIBACC
	E(ELIBACC, "cannot access a needed shared library"),
#endif
#ifdef ELIBBAD
	E(ELIBBAD, "accessing a corrupted shared library"),
#endif
#ifdef ELIBSCN
	E(ELIBSCN, ".lib section in a.out corrupted"),
#endif
#ifdef ELIBMAX
	E(ELIBMAX, "attempting to link in too many shared libraries"),
#endif
#ifdef ELIBEXEC
	E(ELIBEXEC, "cannot exec a shared library directly"),
#endif
	E(EILSEQ, "invalid or incomplete multibyte or wide character"),
#ifdef ERESTART
	E(ERESTART, "interrupted system call should be restarted"),
#endif
#ifdef ESTRPIPE
	E(ESTRPIPE, "streams pipe error"),
#endif
#ifdef EUSERS
	E(EUSERS, "too many users"),
#endif
	E(ENOTSOCK, "not a socket"),
	E(EDESTADDRREQ, "destination address required"),
	E(EMSGSIZE, "message too long"),
	E(EPROTOTYPE, "protocol wrong type for socket"),
	E(ENOPROTOOPT, "protocol not available"),
	E(EPROTONOSUPPORT, "protocol not supported (PV Calls version 1 carries TCP only)"),
#ifdef ESOCKTNOSUPPORT
	E(ESOCKTNOSUPPORT,
	  "socket type not supported (PV Calls version 1 carries SOCK_STREAM only)"),
#endif
	E(EOPNOTSUPP, "operation not supported (by the PV Calls peer, or on this socket)"),
#ifdef EPFNOSUPPORT
	E(EPFNOSUPPORT, "protocol family not supported"),
#endif
	E(EAFNOSUPPORT, "address family not supported (PV Calls version 1 carries IPv4 only)"),
	E(EADDRINUSE, "address already in use"),
	E(EADDRNOTAVAIL, "cannot assign requested address"),
	E(ENETDOWN, "network is down"),
	E(ENETUNREACH, "network is unreachable"),
	E(ENETRESET, "network dropped connection on reset"),
	E(ECONNABORTED, "connection aborted"),
	E(ECONNRESET, "connection reset by peer"),
	E(ENOBUFS, "no buffer space available"),
	E(EISCONN, "socket is already connected"),
	E(ENOTCONN, "socket is not connected (on a PV Calls data ring: end of stream)"),
#ifdef ESHUTDOWN
	E(ESHUTDOWN, "cannot send after socket shutdown"),
#endif
#ifdef ETOOMANYREFS
	E(ETOOMANYREFS, "too many references"),
#endif
	E(ETIMEDOUT, "connection timed out"),
	E(ECONNREFUSED, "connection refused"),
#ifdef EHOSTDOWN
	E(EHOSTDOWN, "host is down"),
#endif
	E(EHOSTUNREACH, "no route to host"),
	E(EALREADY, "operation already in progress"),
	E(EINPROGRESS, "operation now in progress"),
#ifdef ESTALE
	E(ESTALE, "stale file handle"),
#endif
#ifdef EUCLEAN
	E(EUCLEAN, "structure needs cleaning"),
#endif
#ifdef ENOTNAM
	E(ENOTNAM, "not a XENIX named type file"),
#endif
#ifdef ENAVAIL
	E(ENAVAIL, "no XENIX semaphores available"),
#endif
#ifdef EISNAM
	E(EISNAM, "is a named type file"),
#endif
#ifdef EREMOTEIO
	E(EREMOTEIO, "remote I/O error"),
#endif
#ifdef EDQUOT
	E(EDQUOT, "disk quota exceeded"),
#endif
#ifdef ENOMEDIUM
	E(ENOMEDIUM, "no medium found"),
#endif
#ifdef EMEDIUMTYPE
	E(EMEDIUMTYPE, "wrong medium type"),
#endif
	E(ECANCELED, "operation canceled"),
#ifdef ENOKEY
	E(ENOKEY, "required key not available"),
#endif
#ifdef EKEYEXPIRED
	E(EKEYEXPIRED, "key has expired"),
#endif
#ifdef EKEYREVOKED
	E(EKEYREVOKED, "key has been revoked"),
#endif
#ifdef EKEYREJECTED
	E(EKEYREJECTED, "key was rejected by service"),
#endif
#ifdef EOWNERDEAD
	E(EOWNERDEAD, "owner died"),
#endif
#ifdef ENOTRECOVERABLE
	E(ENOTRECOVERABLE, "state not recoverable"),
#endif
#ifdef ERFKILL
	E(ERFKILL, "operation not possible due to RF-kill"),
#endif
#ifdef EHWPOISON
	E(EHWPOISON, "memory page has hardware error"),
#endif
#ifdef EWOULDBLOCK
	E(EWOULDBLOCK, "resource temporarily unavailable"),
#endif
#ifdef EDEADLOCK
	E(EDEADLOCK, "resource deadlock avoided"),
#endif
#ifdef ENOTSUP
	E(ENOTSUP, "operation not supported (by the PV Calls peer, or on this socket)"),
#endif
};

#undef E

const struct pvc_errno_entry *pvc_errno_table(size_t *n)
{
	*n = sizeof(errtab) / sizeof(errtab[0]);
	return errtab;
}

const struct pvc_errno_entry *pvc_errno_by_host(int host)
{
	for (size_t i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].host == host)
			return &errtab[i];
	return NULL;
}

const struct pvc_errno_entry *pvc_errno_by_wire(int wire)
{
	for (size_t i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].wire == wire)
			return &errtab[i];
	return NULL;
}

const char *pvc_errno_wire_name(int32_t ret)
{
	const struct pvc_errno_entry *e;

	/* Range first: negating INT32_MIN would overflow (issue 13). */
	if (ret >= 0 || ret < -PVCALLS_WIRE_MAX_ERRNO)
		return NULL;
	if (ret == -PVCALLS_WIRE_ENOTSUPP)
		return "ENOTSUPP";
	e = pvc_errno_by_wire((int)-ret);
	return e ? e->name : NULL;
}

const char *pvcalls_strerror(int err)
{
	const struct pvc_errno_entry *e;

	if (err == 0)
		return "success";
	if (err == INT_MIN)
		return "unknown error";
	if (err < 0)
		err = -err;
	if (err == PVCALLS_WIRE_ENOTSUPP)
		return "command not supported by the PV Calls backend";
	e = pvc_errno_by_host(err);
	return e ? e->desc : "unknown error";
}
