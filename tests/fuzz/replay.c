/*
 * replay.c - runs a fuzz target over files, without libFuzzer: every file
 * named, and every regular file in every folder named. Exit 0 when all
 * inputs ran (a crash ends the process, which is the failure).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Largest input replayed; the corpus holds small files. */
#define REPLAY_MAX (4 * 1024 * 1024)

static int
replay_file(const char *path)
{
	unsigned char *buf;
	FILE *f;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return -1;
	}
	if ((buf = malloc(REPLAY_MAX)) == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, REPLAY_MAX, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	int i, count = 0;

	for (i = 1; i < argc; i++) {
		struct stat st;
		struct dirent *e;
		DIR *d;

		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) != 0)
				return 1;
			count++;
			continue;
		}
		if ((d = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			return 1;
		}
		while ((e = readdir(d)) != NULL) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(
			    path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			if (replay_file(path) != 0) {
				closedir(d);
				return 1;
			}
			count++;
		}
		closedir(d);
	}
	printf("replayed %d input(s)\n", count);
	return 0;
}
