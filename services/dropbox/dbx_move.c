#include "dbx_move.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* why = "<what> <path>: <errno text>". */
static void say_errno(char *why, size_t why_size, const char *what, const char *path, int err)
{
    char text[128];
    if (strerror_r(err, text, sizeof(text)) != 0) {
        (void)snprintf(text, sizeof(text), "error %d", err);
    }
    (void)snprintf(why, why_size, "%s %s: %s", what, path, text); /* trunc-ok: a message */
}

int dbx_move_mkdirs(const char *dir, char *why, size_t why_size)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
        (void)snprintf(why, why_size, "folder name too long");
        return -1;
    }
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0750) != 0 && errno != EEXIST) {
                say_errno(why, why_size, "cannot create", path, errno);
                return -1;
            }
            *p = c;
            if (c == '\0') {
                return 0;
            }
        }
    }
}

/* Copies src into the new file dst (O_EXCL), fsync'd. Returns 0, or -1 with
 * why and dst removed. */
static int copy_file(const char *src, const char *dst, char *why, size_t why_size)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        say_errno(why, why_size, "cannot open", src, errno);
        return -1;
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (out < 0) {
        say_errno(why, why_size, "cannot create", dst, errno);
        close(in);
        return -1;
    }
    char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n == 0) {
            break;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            say_errno(why, why_size, "cannot read", src, errno);
            rc = -1;
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                say_errno(why, why_size, "cannot write", dst, errno);
                rc = -1;
                break;
            }
            off += w;
        }
        if (rc != 0) {
            break;
        }
    }
    if (rc == 0 && fsync(out) != 0) {
        say_errno(why, why_size, "cannot sync", dst, errno);
        rc = -1;
    }
    if (close(out) != 0 && rc == 0) {
        say_errno(why, why_size, "cannot close", dst, errno);
        rc = -1;
    }
    close(in);
    if (rc != 0) {
        (void)unlink(dst);
    }
    return rc;
}

int dbx_move_file(const char *src, const char *dir, const char *name, long long tag, char *moved_to,
                  size_t moved_to_size, char *why, size_t why_size)
{
    struct stat st;
    if (stat(src, &st) != 0 && errno == ENOENT) {
        return 1;
    }
    if (dbx_move_mkdirs(dir, why, why_size) != 0) {
        return -1;
    }
    if (snprintf(moved_to, moved_to_size, "%s/%s", dir, name) >= (int)moved_to_size) {
        (void)snprintf(why, why_size, "path too long");
        return -1;
    }
    if (lstat(moved_to, &st) == 0 &&
        (snprintf(moved_to, moved_to_size, "%s/%lld_%s", dir, tag, name) >= (int)moved_to_size ||
         lstat(moved_to, &st) == 0)) {
        (void)snprintf(why, why_size, "%s exists already", moved_to); /* trunc-ok: a message */
        return -1;
    }
    if (rename(src, moved_to) == 0) {
        return 0;
    }
    if (errno == ENOENT) {
        return 1;
    }
    if (errno != EXDEV) {
        say_errno(why, why_size, "cannot move to", moved_to, errno);
        return -1;
    }
    /* Another file system: copy under a name the scanner skips, then
     * rename, so the target never holds half a file. */
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.copy", dir, name, (long)getpid()) >=
        (int)sizeof(tmp)) {
        (void)snprintf(why, why_size, "path too long");
        return -1;
    }
    if (copy_file(src, tmp, why, why_size) != 0) {
        return -1;
    }
    if (rename(tmp, moved_to) != 0) {
        say_errno(why, why_size, "cannot move to", moved_to, errno);
        (void)unlink(tmp);
        return -1;
    }
    if (unlink(src) != 0 && errno != ENOENT) {
        say_errno(why, why_size, "copied, but cannot remove", src, errno);
        return -1;
    }
    return 0;
}

int dbx_move_write_reason(const char *path, const char *text, char *why, size_t why_size)
{
    char dst[4096], tmp[4096];
    if (snprintf(dst, sizeof(dst), "%s.reason.txt", path) >= (int)sizeof(dst) ||
        snprintf(tmp, sizeof(tmp), "%s.reason.txt.%ld.tmp", path, (long)getpid()) >=
            (int)sizeof(tmp)) {
        (void)snprintf(why, why_size, "path too long");
        return -1;
    }
    FILE *f = fopen(tmp, "we");
    if (!f) {
        say_errno(why, why_size, "cannot create", tmp, errno);
        return -1;
    }
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (fclose(f) != 0 || !ok) {
        say_errno(why, why_size, "cannot write", tmp, errno);
        (void)unlink(tmp);
        return -1;
    }
    if (rename(tmp, dst) != 0) {
        say_errno(why, why_size, "cannot rename to", dst, errno);
        (void)unlink(tmp);
        return -1;
    }
    return 0;
}
