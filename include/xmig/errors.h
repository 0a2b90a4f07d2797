/* SPDX-License-Identifier: MIT */
/*
 * xmig error codes.
 *
 * Every public function returns 0 on success or one of the negative codes
 * below. The codes are few on purpose: each names a failure a caller can act
 * on. The detail (which record, which pfn, which syscall) is in the session's
 * message, see xmig_session_error().
 */
#ifndef XMIG_ERRORS_H
#define XMIG_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, value, description): the one list the enum, the names and
 * xmig_strerror() are generated from. */
#define XMIG_ERROR_LIST(X)                                                       \
	X(OK, 0, "success")                                                      \
	X(EINVAL, -1, "invalid argument")                                        \
	X(ENOMEM, -2, "out of memory")                                           \
	X(EIO, -3, "transport I/O error")                                        \
	X(EEOF, -4, "unexpected end of stream")                                  \
	X(EPROTO, -5, "malformed stream")                                        \
	X(ECHECKSUM, -6, "record checksum mismatch")                             \
	X(EVERSION, -7, "unsupported stream version")                            \
	X(EBACKEND, -8, "hypervisor backend operation failed")                   \
	X(ENOTSUP, -9, "operation not supported")                                \
	X(ETIMEDOUT, -10, "timed out")                                           \
	X(ENOCONVERGE, -11, "migration did not converge")                        \
	X(EREMOTE, -12, "the peer reported a failure")                           \
	X(EVERIFY, -13, "guest memory digest mismatch")                          \
	X(EAMBIGUOUS, -14, "commit sent but not confirmed: guest state unknown") \
	X(ECANCELED, -15, "cancelled")                                           \
	X(EGUEST, -16, "the guest failed")                                      \
	X(ESRCLEFT, -17, "the guest runs on the destination; its source copy could not be destroyed") \
	X(EAUTH, -18, "peer authentication failed")

enum xmig_error {
#define XMIG__ERR_ENUM(name, value, desc) XMIG_##name = (value),
	XMIG_ERROR_LIST(XMIG__ERR_ENUM)
#undef XMIG__ERR_ENUM
};

/* A static description of an error code ("malformed stream"); never NULL. */
const char *xmig_strerror(int err);

/* The symbolic name of an error code ("XMIG_EPROTO"); never NULL. */
const char *xmig_error_name(int err);

#ifdef __cplusplus
}
#endif
#endif
