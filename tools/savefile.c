/* SPDX-License-Identifier: MIT */
/* Saving to a temporary file and renaming it into place (see savefile.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "savefile.h"
#include "toolutil.h"

char *save_file_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int save_file_create(struct save_file *sf, const char *path, int replace)
{
	static const char suffix[] = ".partial-XXXXXX";
	size_t n = strlen(path);

	memset(sf, 0, sizeof(*sf));
	sf->fd = -1;
	sf->replace = replace;
	sf->path = strdup(path);
	sf->tmp = malloc(n + sizeof(suffix));
	if (!sf->path || !sf->tmp) {
		fprintf(stderr, "%s: error: out of memory\n", tool_name);
		goto fail;
	}
	memcpy(sf->tmp, path, n);
	memcpy(sf->tmp + n, suffix, sizeof(suffix));
	/* mkstemp: O_EXCL and mode 0600, which a saved stream needs anyway. */
	sf->fd = mkostemp(sf->tmp, O_CLOEXEC);
	if (sf->fd < 0) {
		fprintf(stderr, "%s: error: cannot create a temporary file next to '%s': %s\n",
			tool_name, path, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	free(sf->tmp);
	free(sf->path);
	sf->tmp = sf->path = NULL;
	return -1;
}

/* rename(2), but never over an existing file unless sf->replace. */
static int put_in_place(struct save_file *sf)
{
	if (sf->replace)
		return rename(sf->tmp, sf->path);
	if (renameat2(AT_FDCWD, sf->tmp, AT_FDCWD, sf->path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without RENAME_NOREPLACE: link(2) refuses to replace too. */
	if (link(sf->tmp, sf->path) < 0)
		return -1;
	unlink(sf->tmp);
	return 0;
}

/* The rename is only durable once the directory is synced too. */
static void sync_dir(const char *path)
{
	char *dir = save_file_dir(path);
	int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	if (fd < 0 || fsync(fd) < 0)
		fprintf(stderr, "%s: warning: could not sync directory '%s' after saving: %s\n",
			tool_name, dir ? dir : path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(dir);
}

int save_file_commit(struct save_file *sf)
{
	const char *step = "sync";
	int rc;

	rc = fsync(sf->fd);
	if (rc == 0) {
		step = "close";
		rc = close(sf->fd);
		sf->fd = -1;
	}
	if (rc == 0) {
		step = "rename";
		rc = put_in_place(sf);
	}
	if (rc < 0) {
		if (step[0] == 'r' && errno == EEXIST)
			fprintf(stderr, "%s: error: '%s' was created by someone else while saving; "
				"nothing was overwritten (use --force to overwrite it)\n", tool_name,
				sf->path);
		else
			fprintf(stderr, "%s: error: saving '%s': %s of %s failed: %s\n", tool_name,
				sf->path, step, sf->tmp, strerror(errno));
		save_file_discard(sf);
		return -1;
	}
	free(sf->tmp);
	sf->tmp = NULL;
	sync_dir(sf->path);
	free(sf->path);
	sf->path = NULL;
	return 0;
}

void save_file_discard(struct save_file *sf)
{
	if (sf->fd >= 0)
		close(sf->fd);
	sf->fd = -1;
	if (sf->tmp)
		unlink(sf->tmp);
	free(sf->tmp);
	free(sf->path);
	sf->tmp = NULL;
	sf->path = NULL;
}
