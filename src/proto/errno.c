/* SPDX-License-Identifier: MIT */
/*
 * Error numbers: host <-> wire, and pvcalls_strerror().
 *
 * The wire carries Linux's asm-generic errno numbers (x86, Arm, RISC-V...).
 * Linux on MIPS, Alpha, SPARC and PA-RISC numbers many of them differently,
 * but Xen runs on none of those, so PV Calls peers always use these values.
 * The table pairs each Linux number with the host's E* constant: the
 * identity on Linux, correct elsewhere (entries the host lacks are left out).
 *
 * All strings are static; nothing here is locale- or thread-dependent, which
 * is why strerror() (not thread-safe) and strerrordesc_np() (glibc only) are
 * not used.
 */
#include <pvcalls/proto.h>

#include <errno.h>
#include <limits.h>

#include "common/log.h"
#include "proto/errno_table.h"

#define E(e, lnx, d) { e, lnx, #e, d }

static const struct pvc_errno_entry errtab[] = {
	E(EPERM, 1, "operation not permitted"),
	E(ENOENT, 2, "no such file or directory"),
	E(ESRCH, 3, "no such process"),
	E(EINTR, 4, "interrupted (or another ACCEPT or POLL was pending on the listener)"),
	E(EIO, 5, "input/output error"),
	E(ENXIO, 6, "no such device or address"),
	E(E2BIG, 7, "argument list too long"),
	E(ENOEXEC, 8, "exec format error"),
	E(EBADF, 9, "bad file descriptor"),
	E(ECHILD, 10, "no child processes"),
	E(EAGAIN, 11, "resource temporarily unavailable"),
	E(ENOMEM, 12, "out of memory"),
	E(EACCES, 13, "permission denied"),
	E(EFAULT, 14, "bad address (or the backend could not map the socket's rings)"),
#ifdef ENOTBLK
	E(ENOTBLK, 15, "block device required"),
#endif
	E(EBUSY, 16, "device or resource busy"),
	E(EEXIST, 17, "already exists (or the socket id is already in use)"),
	E(EXDEV, 18, "cross-device link"),
	E(ENODEV, 19, "no such device"),
	E(ENOTDIR, 20, "not a directory"),
	E(EISDIR, 21, "is a directory"),
	E(EINVAL, 22, "invalid argument"),
	E(ENFILE, 23, "too many open files in the system"),
	E(EMFILE, 24, "too many open files"),
	E(ENOTTY, 25, "inappropriate ioctl for device"),
	E(ETXTBSY, 26, "text file busy"),
	E(EFBIG, 27, "file too large"),
	E(ENOSPC, 28, "no space left"),
	E(ESPIPE, 29, "illegal seek"),
	E(EROFS, 30, "read-only file system"),
	E(EMLINK, 31, "too many links"),
	E(EPIPE, 32, "broken pipe"),
	E(EDOM, 33, "argument out of domain"),
	E(ERANGE, 34, "result out of range"),
	E(EDEADLK, 35, "resource deadlock avoided"),
	E(ENAMETOOLONG, 36, "file name too long"),
	E(ENOLCK, 37, "no locks available"),
	E(ENOSYS, 38, "function not implemented"),
	E(ENOTEMPTY, 39, "directory not empty"),
	E(ELOOP, 40, "too many levels of symbolic links"),
	E(ENOMSG, 42, "no message of the desired type"),
	E(EIDRM, 43, "identifier removed"),
#ifdef ECHRNG
	E(ECHRNG, 44, "channel number out of range"),
#endif
#ifdef EL2NSYNC
	E(EL2NSYNC, 45, "level 2 not synchronized"),
#endif
#ifdef EL3HLT
	E(EL3HLT, 46, "level 3 halted"),
#endif
#ifdef EL3RST
	E(EL3RST, 47, "level 3 reset"),
#endif
#ifdef ELNRNG
	E(ELNRNG, 48, "link number out of range"),
#endif
#ifdef EUNATCH
	E(EUNATCH, 49, "protocol driver not attached"),
#endif
#ifdef ENOCSI
	E(ENOCSI, 50, "no CSI structure available"),
#endif
#ifdef EL2HLT
	E(EL2HLT, 51, "level 2 halted"),
#endif
#ifdef EBADE
	E(EBADE, 52, "invalid exchange"),
#endif
#ifdef EBADR
	E(EBADR, 53, "invalid request descriptor"),
#endif
#ifdef EXFULL
	E(EXFULL, 54, "exchange full"),
#endif
#ifdef ENOANO
	E(ENOANO, 55, "no anode"),
#endif
#ifdef EBADRQC
	E(EBADRQC, 56, "invalid request code"),
#endif
#ifdef EBADSLT
	E(EBADSLT, 57, "invalid slot"),
#endif
#ifdef EBFONT
	E(EBFONT, 59, "bad font file format"),
#endif
#ifdef ENOSTR
	E(ENOSTR, 60, "not a stream device"),
#endif
#ifdef ENODATA
	E(ENODATA, 61, "no data available"),
#endif
#ifdef ETIME
	E(ETIME, 62, "timer expired"),
#endif
#ifdef ENOSR
	E(ENOSR, 63, "out of stream resources"),
#endif
#ifdef ENONET
	E(ENONET, 64, "machine is not on the network"),
#endif
#ifdef ENOPKG
	E(ENOPKG, 65, "package not installed"),
#endif
#ifdef EREMOTE
	E(EREMOTE, 66, "object is remote"),
#endif
#ifdef ENOLINK
	E(ENOLINK, 67, "link has been severed"),
#endif
#ifdef EADV
	E(EADV, 68, "advertise error"),
#endif
#ifdef ESRMNT
	E(ESRMNT, 69, "srmount error"),
#endif
#ifdef ECOMM
	E(ECOMM, 70, "communication error on send"),
#endif
	E(EPROTO, 71, "peer violated the PV Calls protocol"),
#ifdef EMULTIHOP
	E(EMULTIHOP, 72, "multihop attempted"),
#endif
#ifdef EDOTDOT
	E(EDOTDOT, 73, "RFS specific error"),
#endif
	E(EBADMSG, 74, "bad message"),
	E(EOVERFLOW, 75, "value too large for defined data type"),
#ifdef ENOTUNIQ
	E(ENOTUNIQ, 76, "name not unique on network"),
#endif
#ifdef EBADFD
	E(EBADFD, 77, "file descriptor in bad state"),
#endif
#ifdef EREMCHG
	E(EREMCHG, 78, "remote address changed"),
#endif
#ifdef ELIBACC
	E(ELIBACC, 79, "cannot access a needed shared library"),
#endif
#ifdef ELIBBAD
	E(ELIBBAD, 80, "accessing a corrupted shared library"),
#endif
#ifdef ELIBSCN
	E(ELIBSCN, 81, ".lib section in a.out corrupted"),
#endif
#ifdef ELIBMAX
	E(ELIBMAX, 82, "attempting to link in too many shared libraries"),
#endif
#ifdef ELIBEXEC
	E(ELIBEXEC, 83, "cannot exec a shared library directly"),
#endif
	E(EILSEQ, 84, "invalid or incomplete multibyte or wide character"),
#ifdef ERESTART
	E(ERESTART, 85, "interrupted system call should be restarted"),
#endif
#ifdef ESTRPIPE
	E(ESTRPIPE, 86, "streams pipe error"),
#endif
#ifdef EUSERS
	E(EUSERS, 87, "too many users"),
#endif
	E(ENOTSOCK, 88, "not a socket"),
	E(EDESTADDRREQ, 89, "destination address required"),
	E(EMSGSIZE, 90, "message too long"),
	E(EPROTOTYPE, 91, "protocol wrong type for socket"),
	E(ENOPROTOOPT, 92, "protocol not available"),
	E(EPROTONOSUPPORT, 93, "protocol not supported (PV Calls version 1 carries TCP only)"),
#ifdef ESOCKTNOSUPPORT
	E(ESOCKTNOSUPPORT, 94, "socket type not supported (PV Calls version 1 carries SOCK_STREAM only)"),
#endif
	E(EOPNOTSUPP, 95, "operation not supported (by the PV Calls peer, or on this socket)"),
#ifdef EPFNOSUPPORT
	E(EPFNOSUPPORT, 96, "protocol family not supported"),
#endif
	E(EAFNOSUPPORT, 97, "address family not supported (PV Calls version 1 carries IPv4 only)"),
	E(EADDRINUSE, 98, "address already in use"),
	E(EADDRNOTAVAIL, 99, "cannot assign requested address"),
	E(ENETDOWN, 100, "network is down"),
	E(ENETUNREACH, 101, "network is unreachable"),
	E(ENETRESET, 102, "network dropped connection on reset"),
	E(ECONNABORTED, 103, "connection aborted"),
	E(ECONNRESET, 104, "connection reset by peer"),
	E(ENOBUFS, 105, "no buffer space available"),
	E(EISCONN, 106, "socket is already connected"),
	E(ENOTCONN, 107, "socket is not connected (on a PV Calls data ring: end of stream)"),
#ifdef ESHUTDOWN
	E(ESHUTDOWN, 108, "cannot send after socket shutdown"),
#endif
#ifdef ETOOMANYREFS
	E(ETOOMANYREFS, 109, "too many references"),
#endif
	E(ETIMEDOUT, 110, "connection timed out"),
	E(ECONNREFUSED, 111, "connection refused"),
#ifdef EHOSTDOWN
	E(EHOSTDOWN, 112, "host is down"),
#endif
	E(EHOSTUNREACH, 113, "no route to host"),
	E(EALREADY, 114, "operation already in progress"),
	E(EINPROGRESS, 115, "operation now in progress"),
#ifdef ESTALE
	E(ESTALE, 116, "stale file handle"),
#endif
#ifdef EUCLEAN
	E(EUCLEAN, 117, "structure needs cleaning"),
#endif
#ifdef ENOTNAM
	E(ENOTNAM, 118, "not a XENIX named type file"),
#endif
#ifdef ENAVAIL
	E(ENAVAIL, 119, "no XENIX semaphores available"),
#endif
#ifdef EISNAM
	E(EISNAM, 120, "is a named type file"),
#endif
#ifdef EREMOTEIO
	E(EREMOTEIO, 121, "remote I/O error"),
#endif
#ifdef EDQUOT
	E(EDQUOT, 122, "disk quota exceeded"),
#endif
#ifdef ENOMEDIUM
	E(ENOMEDIUM, 123, "no medium found"),
#endif
#ifdef EMEDIUMTYPE
	E(EMEDIUMTYPE, 124, "wrong medium type"),
#endif
	E(ECANCELED, 125, "operation canceled"),
#ifdef ENOKEY
	E(ENOKEY, 126, "required key not available"),
#endif
#ifdef EKEYEXPIRED
	E(EKEYEXPIRED, 127, "key has expired"),
#endif
#ifdef EKEYREVOKED
	E(EKEYREVOKED, 128, "key has been revoked"),
#endif
#ifdef EKEYREJECTED
	E(EKEYREJECTED, 129, "key was rejected by service"),
#endif
#ifdef EOWNERDEAD
	E(EOWNERDEAD, 130, "owner died"),
#endif
#ifdef ENOTRECOVERABLE
	E(ENOTRECOVERABLE, 131, "state not recoverable"),
#endif
#ifdef ERFKILL
	E(ERFKILL, 132, "operation not possible due to RF-kill"),
#endif
#ifdef EHWPOISON
	E(EHWPOISON, 133, "memory page has hardware error"),
#endif
#ifdef EWOULDBLOCK
	E(EWOULDBLOCK, 11, "resource temporarily unavailable"),
#endif
#ifdef EDEADLOCK
	E(EDEADLOCK, 35, "resource deadlock avoided"),
#endif
#ifdef ENOTSUP
	E(ENOTSUP, 95, "operation not supported (by the PV Calls peer, or on this socket)"),
#endif
};

#undef E

const struct pvc_errno_entry *pvc_errno_table(size_t *n)
{
	*n = sizeof(errtab) / sizeof(errtab[0]);
	return errtab;
}

static const struct pvc_errno_entry *by_host(int host)
{
	for (size_t i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].host == host)
			return &errtab[i];
	return NULL;
}

static const struct pvc_errno_entry *by_wire(int wire)
{
	for (size_t i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].wire == wire)
			return &errtab[i];
	return NULL;
}

int32_t pvcalls_errno_to_wire(int err)
{
	const struct pvc_errno_entry *e;

	if (err == 0)
		return 0;
	if (err == INT_MIN)
		goto unmapped;
	if (err > 0)
		err = -err;
	if (err == -PVCALLS_WIRE_ENOTSUPP)
		return -PVCALLS_WIRE_ENOTSUPP;
	e = by_host(-err);
	if (e)
		return -e->wire;
unmapped:
	pvc_debug("proto.errno-unmapped", "host errno %d has no wire value; sending EIO", err);
	return -5; /* Linux EIO */
}

int pvcalls_errno_from_wire(int32_t wire)
{
	const struct pvc_errno_entry *e;

	if (wire == 0)
		return 0;
	if (wire > 0 || wire < -PVCALLS_WIRE_MAX_ERRNO) {
		pvc_debug("proto.errno-invalid", "wire errno %d out of range", (int)wire);
		return -EPROTO;
	}
	if (wire == -PVCALLS_WIRE_ENOTSUPP)
		return -EOPNOTSUPP;
	e = by_wire(-wire);
	if (e)
		return -e->host;
	pvc_debug("proto.errno-unknown", "unknown wire errno %d; reporting EIO", (int)wire);
	return -EIO;
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
	e = by_host(err);
	return e ? e->desc : "unknown error";
}
