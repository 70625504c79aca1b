/* The tree the chown benchmarks walk: top/dN/sM/{f*,l*}, leaf
 * directories of files and symlinks (relative, absolute, dangling). */
#pragma once

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILES_PER_DIR 80
#define LINKS_PER_DIR 20
#define SUBDIRS       25

static void tree_die(const char *what)
{
        perror(what);
        exit(1);
}

/* One leaf directory: files and symlinks (relative, absolute, dangling). */
static long fill_leaf(int dfd)
{
        char name[32];
        for (int i = 0; i < FILES_PER_DIR; i++) {
                snprintf(name, sizeof(name), "f%d", i);
                if (mknodat(dfd, name, S_IFREG | 0644, 0) < 0)
                        tree_die("mknodat");
        }
        static const char *targets[] = {"f0", "/etc/passwd", "../..", "missing"};
        for (int i = 0; i < LINKS_PER_DIR; i++) {
                snprintf(name, sizeof(name), "l%d", i);
                if (symlinkat(targets[i % 4], dfd, name) < 0)
                        tree_die("symlinkat");
        }
        return FILES_PER_DIR + LINKS_PER_DIR;
}

/* top/dN/sM/{f*,l*}: returns the number of entries below top. */
static long make_tree(const char *top, long want)
{
        if (mkdir(top, 0755) < 0)
                tree_die("mkdir");
        int tfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tfd < 0)
                tree_die(top);
        long n = 0;
        char name[32];
        for (int d = 0; n < want; d++) {
                snprintf(name, sizeof(name), "d%d", d);
                if (mkdirat(tfd, name, 0755) < 0)
                        tree_die("mkdirat");
                int dfd = openat(tfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        tree_die("openat");
                n++;
                for (int s = 0; s < SUBDIRS && n < want; s++) {
                        snprintf(name, sizeof(name), "s%d", s);
                        if (mkdirat(dfd, name, 0755) < 0)
                                tree_die("mkdirat");
                        int sfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (sfd < 0)
                                tree_die("openat");
                        n += 1 + fill_leaf(sfd);
                        close(sfd);
                }
                close(dfd);
        }
        close(tfd);
        return n;
}
