/* SPDX-License-Identifier: MIT */
/*
 * A file that appears complete or not at all: the stream is written to
 * PATH.partial-XXXXXX in PATH's directory, then synced and renamed onto PATH
 * once it is whole; a failed or interrupted save removes its temporary file
 * and leaves PATH as it was.
 */
#ifndef XMIG_TOOLS_SAVEFILE_H
#define XMIG_TOOLS_SAVEFILE_H

struct save_file {
	char *path;   /* where the file goes (a symbolic link resolved) */
	char *tmp;    /* the temporary name while it exists, else NULL */
	int fd;       /* the temporary file, -1 once closed */
	int replace;  /* --force: an existing `path` may be replaced */
};

/*
 * Create the temporary file for `path` (mode 0600: a stream holds guest
 * memory). 0, or -1 with the reason printed. sf->fd is where to write.
 */
int save_file_create(struct save_file *sf, const char *path, int replace);

/*
 * The stream is complete: sync it and rename it onto sf->path (without
 * `replace`, never over a file that appeared meanwhile). 0, or -1 with the
 * reason printed and the temporary file removed.
 */
int save_file_commit(struct save_file *sf);

/* The directory part of `path` ("." for a bare name), malloc'd; NULL if out of memory. */
char *save_file_dir(const char *path);

/* Remove the temporary file, if any; PATH is untouched. Safe to repeat. */
void save_file_discard(struct save_file *sf);

#endif
