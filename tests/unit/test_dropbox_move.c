/* Moving a finished dropped file: into the archive (a rename), never over
 * a file already there, the reason file beside a failed one, and across
 * file systems (a copy, then the source removed) when the archive is on
 * another mount: /dev/shm (tmpfs) against the temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dbx_move.h"

/* A fresh folder under base (mkdtemp). Malloc'd. */
static char *temp_dir(const char *base)
{
    char *p = malloc(256);
    assert_non_null(p);
    snprintf(p, 256, "%s/dbx_move_XXXXXX", base);
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The contents of path (up to 255 bytes) into out; "" when missing. */
static const char *read_file(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(out, 1, size - 1, f);
        out[n] = '\0';
        fclose(f);
    }
    return out;
}

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_dropbox_move_renames_without_replacing(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *root = temp_dir(tmp);
    assert_non_null(root);
    char src[512], dir[512], to[1024], why[512], buf[256], other[1100];
    snprintf(src, sizeof(src), "%s/a.csv", root);
    snprintf(dir, sizeof(dir), "%s/archive/deep", root);
    write_file(src, "phone1\n1\n");
    assert_int_equal(dbx_move_file(src, dir, "17_a.csv", 5, to, sizeof(to), why, sizeof(why)), 0);
    assert_true(access(src, F_OK) != 0);
    snprintf(other, sizeof(other), "%s/17_a.csv", dir);
    assert_string_equal(to, other);
    assert_string_equal(read_file(to, buf, sizeof(buf)), "phone1\n1\n");
    /* The same name again: the tag goes in front, the first stays. */
    write_file(src, "second\n");
    assert_int_equal(dbx_move_file(src, dir, "17_a.csv", 5, to, sizeof(to), why, sizeof(why)), 0);
    snprintf(other, sizeof(other), "%s/5_17_a.csv", dir);
    assert_string_equal(to, other);
    assert_string_equal(read_file(to, buf, sizeof(buf)), "second\n");
    snprintf(other, sizeof(other), "%s/17_a.csv", dir);
    assert_string_equal(read_file(other, buf, sizeof(buf)), "phone1\n1\n");
    /* Both names taken: refused, nothing moved. */
    write_file(src, "third\n");
    assert_int_equal(dbx_move_file(src, dir, "17_a.csv", 5, to, sizeof(to), why, sizeof(why)), -1);
    assert_non_null(strstr(why, "exists already"));
    assert_string_equal(read_file(src, buf, sizeof(buf)), "third\n");
    /* Gone (another replica moved it): 1. */
    assert_int_equal(unlink(src), 0);
    assert_int_equal(dbx_move_file(src, dir, "x.csv", 5, to, sizeof(to), why, sizeof(why)), 1);
    rm_rf(root);
    free(root);
}

static void test_dropbox_failed_file_gets_reason(void **state)
{
    (void)state;
    char *root = temp_dir("/tmp");
    assert_non_null(root);
    char src[512], dir[512], to[1024], why[512], buf[256], reason[1100];
    snprintf(src, sizeof(src), "%s/c.csv", root);
    snprintf(dir, sizeof(dir), "%s/failed", root);
    write_file(src, "x\n");
    assert_int_equal(dbx_move_file(src, dir, "c.csv", 1, to, sizeof(to), why, sizeof(why)), 0);
    assert_int_equal(
        dbx_move_write_reason(to, "reason: campaign 99 does not exist", why, sizeof(why)), 0);
    snprintf(reason, sizeof(reason), "%s.reason.txt", to);
    assert_string_equal(read_file(reason, buf, sizeof(buf)),
                        "reason: campaign 99 does not exist\n");
    rm_rf(root);
    free(root);
}

static void test_dropbox_move_across_file_systems(void **state)
{
    (void)state;
    char *root = temp_dir("/tmp");
    char *shm = temp_dir("/dev/shm");
    assert_non_null(root);
    struct stat a, b;
    if (!shm || stat(root, &a) != 0 || stat(shm, &b) != 0 || a.st_dev == b.st_dev) {
        rm_rf(root);
        free(root);
        if (shm) {
            rm_rf(shm);
        }
        free(shm);
        skip(); /* no second file system here */
        return;
    }
    char src[512], dir[512], to[1024], why[512], buf[256];
    snprintf(src, sizeof(src), "%s/big.csv", root);
    snprintf(dir, sizeof(dir), "%s/archive", shm);
    write_file(src, "phone1\n2125550100\n");
    assert_int_equal(dbx_move_file(src, dir, "3_big.csv", 1, to, sizeof(to), why, sizeof(why)), 0);
    assert_true(access(src, F_OK) != 0);
    assert_string_equal(read_file(to, buf, sizeof(buf)), "phone1\n2125550100\n");
    /* Nothing left behind under the copy's temporary name. */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    rm_rf(root);
    rm_rf(shm);
    free(root);
    free(shm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropbox_move_renames_without_replacing),
        cmocka_unit_test(test_dropbox_failed_file_gets_reason),
        cmocka_unit_test(test_dropbox_move_across_file_systems),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
