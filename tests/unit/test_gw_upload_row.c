/* gw_upload_row: header mapping, row validation and normalisation (E.164,
 * types, zones) into COPY fragments, CSV records and JSON items, and rows
 * through the CSV reader reported on their lines. Pure: no database. */
#include <jansson.h>

#include "ecm_buf.h"
#include "ecm_log.h"
#include "ecm_utf8.h"
#include "gw_csv.h"
#include "gw_upload_report.h"
#include "gw_upload_row.h"
#include "gw_test_support.h"

/* ---- header and rows -------------------------------------------------- */

static gw_upload_header *header_of(const char *fields, char *err, size_t err_size)
{
    gw_test_rec h;
    gw_test_rec_split(&h, fields);
    return gw_upload_header_parse(h.n, h.f, h.l, err, err_size);
}

static const gw_upload_rules voice_us = {"US", 0, NULL, 0};
static const gw_upload_rules sms_us = {"US", 1, NULL, 0};

/* Runs one CSV row; returns 0/1/-1 as gw_upload_row_csv with the COPY
 * fragment then " | " and the numbers (comma-separated), or the reason, in
 * out. */
static int row_with(const gw_upload_header *h, const gw_upload_rules *rules, long long line,
                    const char *fields, char *out, size_t out_size)
{
    gw_test_rec r;
    gw_test_rec_split(&r, fields);
    ecm_buf buf;
    ecm_buf_init(&buf, GW_TEST_BUF_MAX);
    gw_upload_row row;
    char reason[256] = "";
    gw_upload_scratch *s = gw_upload_scratch_new();
    assert_non_null(s);
    int rc =
        gw_upload_row_csv(h, rules, s, line, r.n, r.f, r.l, &buf, &row, reason, sizeof(reason));
    if (rc == 0) {
        size_t used = gw_test_format(out, out_size, "%.*s |", (int)row.copy_len,
                                     ecm_buf_ptr(&buf) + row.copy_off);
        const char *p = ecm_buf_ptr(&buf) + row.phones_off;
        for (int k = 0; k < row.nphones && used < out_size; k++, p += strlen(p) + 1) {
            used += gw_test_format(out + used, out_size - used, " %s", p);
        }
    } else {
        gw_test_format(out, out_size, "%s", reason);
        assert_int_equal(ecm_buf_len(&buf), 0);
    }
    ecm_buf_destroy(&buf);
    gw_upload_scratch_destroy(s);
    return rc;
}

static int row(const gw_upload_header *h, long long line, const char *fields, char *out,
               size_t out_size)
{
    return row_with(h, &voice_us, line, fields, out, out_size);
}

static void test_upload_header_maps_columns_by_trimmed_case_insensitive_name(void **state)
{
    (void)state;
    char err[200], out[512];
    gw_upload_header *h =
        header_of(" Segment |PHONE2| Account_Number |First_Name|last_name|phone1|Time_Zone", err,
                  sizeof(err));
    assert_non_null(h);
    assert_int_equal(row(h, 7, "gold|+44 20 7946 0958|A-1| Ann |Lee|(212) 555-0100|US/Eastern", out,
                         sizeof(out)),
                     0);
    /* Numbers in column order, E.164, with their types and zones (one
     * zone for GB, none for +1); the time zone as written. */
    assert_string_equal(out, "7\tA-1\tAnn\tLee\t{\"+12125550100\",\"+442079460958\"}\t"
                             "{\"Segment\":\"gold\"}\tUS/Eastern\t"
                             "{\"fixed_line_or_mobile\",\"fixed_line\"}\t{\"\",\"Europe/London\"}\t"
                             "{\"US-NY\",\"GB\"}\t\\N\t\\N |"
                             " +12125550100 +442079460958");
    gw_upload_header_destroy(h);
}

static void test_upload_row_escapes_custom_fields_for_copy(void **state)
{
    (void)state;
    char err[200], out[512];
    gw_upload_header *h = header_of("phone3|note", err, sizeof(err));
    assert_non_null(h);
    assert_int_equal(row(h, 2, "+44 20 7946 0000|a\tb \\ \"q\"", out, sizeof(out)), 0);
    /* Missing names and time zone are NULL (\N); the note's tab and
     * backslash are JSON-escaped, then the backslashes COPY-escaped. */
    assert_string_equal(
        out, "2\t\\N\t\\N\t\\N\t{\"+442079460000\"}\t"
             "{\"note\":\"a\\\\tb \\\\\\\\ \\\\\"q\\\\\"\"}\t\\N\t"
             "{\"fixed_line\"}\t{\"Europe/London\"}\t{\"GB\"}\t\\N\t\\N | +442079460000");
    gw_upload_header_destroy(h);
}

static void test_upload_header_refusals_say_why(void **state)
{
    (void)state;
    char err[200];
    assert_null(header_of("first_name|last_name", err, sizeof(err)));
    assert_non_null(strstr(err, "no phone column"));
    assert_null(header_of("phone1|Phone1", err, sizeof(err)));
    assert_non_null(strstr(err, "appears twice"));
    assert_null(header_of("phone1||x", err, sizeof(err)));
    assert_non_null(strstr(err, "column 2 has no name"));
}

static void test_upload_row_rejections_name_the_column_and_the_reason(void **state)
{
    (void)state;
    char err[200], out[512];
    gw_upload_header *h =
        header_of("first_name|last_name|phone1|phone2|time_zone", err, sizeof(err));
    assert_non_null(h);
    static const struct {
        const char *fields, *reason;
    } cases[] = {
        {"Ann|Lee|2125550100", "expected 5 fields, found 3"},
        {"Ann|Lee|2125550100||UTC|x", "expected 5 fields, found 6"},
        {"Ann|Lee|12-AB||", "phone1: '12-AB' contains letters"},
        {"Ann|Lee|2125550100|212 555 O1OO|", "phone2: '212 555 O1OO' contains letters"},
        {"Ann|Lee||555 12|", "phone2: '555 12' too short"},
        {"Ann|Lee|555 123 4567||", "phone1: '555 123 4567' invalid for region US"},
        {"Ann|Lee|212-555-0100 x12||", "phone1: '212-555-0100 x12' has an extension"},
        {"Ann|Lee|212;555;0100||", "phone1: '212;555;0100' unexpected character ';'"},
        {"Ann|Lee|||", "no phone number (phone1 .. phone10 are empty)"},
        {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|Lee|2125550100||",
         "first_name: longer than 50 characters"},
        {"Ann|Lee|2125550100||New York", "time_zone: 'New York' is not a time zone name"},
        {"Ann|Lee|2125550100||Mars/Olympus", "time_zone: 'Mars/Olympus' is not a time zone name"},
        {"Ann|L\xC3|2125550100||", "last_name: not valid UTF-8 text"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (row(h, 3, cases[i].fields, out, sizeof(out)) != 1 ||
            strcmp(out, cases[i].reason) != 0) {
            fail_msg("'%s': got '%s', expected '%s'", cases[i].fields, out, cases[i].reason);
        }
    }
    /* 50 characters of two bytes each are within the limit. */
    char name[128] = "";
    for (int i = 0; i < 50; i++) {
        memcpy(name + 2 * i, "\xC3\xA9", 3);
    }
    char fields[256];
    gw_test_format(fields, sizeof(fields), "%s|Lee|2125550100||", name);
    assert_int_equal(row(h, 3, fields, out, sizeof(out)), 0);
    gw_upload_header_destroy(h);
}

static void test_upload_row_reads_numbers_the_way_people_write_them(void **state)
{
    (void)state;
    char err[200], out[512];
    gw_upload_header *h = header_of("phone1|phone2", err, sizeof(err));
    assert_non_null(h);
    static const struct {
        const char *fields, *numbers;
    } cases[] = {
        {"(212) 555-0100|", " +12125550100"},
        {"+44 20 7946 0958|", " +442079460958"},
        {"00 33 1 42 68 53 00|", " +33142685300"}, /* "00" read as '+' for a US list */
        {"011 33 1 42 68 53 00|", " +33142685300"},
        {"212.555.0100|+1 (212) 555-0100", " +12125550100"}, /* one number, twice */
        {"|+92 300 1234567", " +923001234567"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(row(h, 2, cases[i].fields, out, sizeof(out)), 0);
        const char *numbers = strstr(out, " |");
        assert_non_null(numbers);
        if (strcmp(numbers + 2, cases[i].numbers) != 0) {
            fail_msg("'%s': numbers '%s', expected '%s'", cases[i].fields, numbers + 2,
                     cases[i].numbers);
        }
    }
    gw_upload_header_destroy(h);
}

static void test_upload_sms_row_needs_a_number_that_may_be_mobile(void **state)
{
    (void)state;
    char err[200], out[512];
    gw_upload_header *h = header_of("phone1|phone2", err, sizeof(err));
    assert_non_null(h);
    assert_int_equal(row_with(h, &sms_us, 4, "+44 20 7946 0958|+1 800 555 0100", out, sizeof(out)),
                     1);
    assert_string_equal(out, "no number that can take SMS (phone1 +442079460958 is fixed_line)");
    /* One number that may be mobile is enough; the types are all kept. */
    assert_int_equal(
        row_with(h, &sms_us, 4, "+44 20 7946 0958|+33 6 12 34 56 78", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "{\"fixed_line\",\"mobile\"}"));
    /* US numbers may be mobile. */
    assert_int_equal(row_with(h, &sms_us, 4, "2125550100|", out, sizeof(out)), 0);
    /* A voice campaign takes the fixed line. */
    assert_int_equal(row(h, 4, "+44 20 7946 0958|", out, sizeof(out)), 0);
    gw_upload_header_destroy(h);
}

static void test_upload_row_with_nul_byte_is_rejected(void **state)
{
    (void)state;
    char err[200];
    gw_upload_header *h = header_of("phone1|note", err, sizeof(err));
    const char *f[] = {"2125550100", "a\0b"};
    size_t l[] = {10, 3};
    ecm_buf buf;
    ecm_buf_init(&buf, GW_TEST_BUF_MAX);
    gw_upload_row r;
    char reason[200];
    gw_upload_scratch *s = gw_upload_scratch_new();
    assert_int_equal(
        gw_upload_row_csv(h, &voice_us, s, 9, 2, f, l, &buf, &r, reason, sizeof(reason)), 1);
    assert_string_equal(reason, "note: not valid UTF-8 text");
    ecm_buf_destroy(&buf);
    gw_upload_scratch_destroy(s);
    gw_upload_header_destroy(h);
}

static int json_row(const gw_upload_rules *rules, const char *item, char *out, size_t out_size)
{
    ecm_buf buf;
    ecm_buf_init(&buf, GW_TEST_BUF_MAX);
    gw_upload_row r;
    char reason[256] = "";
    gw_upload_scratch *s = gw_upload_scratch_new();
    int rc = gw_upload_row_json(rules, s, 5, item, strlen(item), &buf, &r, reason, sizeof(reason));
    gw_test_format(out, out_size, "%.*s", rc == 0 ? (int)r.copy_len : (int)strlen(reason),
                   rc == 0 ? ecm_buf_ptr(&buf) + r.copy_off : reason);
    ecm_buf_destroy(&buf);
    gw_upload_scratch_destroy(s);
    return rc;
}

static void test_upload_json_item_maps_keys_like_csv_headers(void **state)
{
    (void)state;
    char out[512];
    assert_int_equal(json_row(&voice_us,
                              "{\"Account_Number\": 42, \"first_name\": \" Zo\\u00eb \", "
                              "\"phone1\": 12125550100, \"phone2\": null, \"score\": 7.5, "
                              "\"tier\": \"gold\", \"time_zone\": \"\"}",
                              out, sizeof(out)),
                     0);
    assert_string_equal(out, "5\t42\tZo\xC3\xAB\t\\N\t{\"+12125550100\"}\t"
                             "{\"score\":\"7.5\",\"tier\":\"gold\"}\t\\N\t"
                             "{\"fixed_line_or_mobile\"}\t{\"\"}\t{\"US-NY\"}\t\\N\t\\N");
    static const struct {
        const char *item, *reason;
    } cases[] = {
        {"[1, 2]", "not a JSON object"},
        {"{\"phone1\": tru}", NULL},
        {"{\"phone1\": \"2125550100\", \"x\": {\"a\": 1}}", "x: must be a string or a number"},
        {"{\"phone1\": \"2125550100\", \"x\": true}", "x: must be a string or a number"},
        {"{\"Phone1\": \"2125550100\", \"PHONE1\": \"2125550101\"}", "'PHONE1' appears twice"},
        {"{\"account_number\": \"A\"}", "no phone number (phone1 .. phone10 are missing)"},
        {"{\"phone1\": \"\"}", "no phone number (phone1 .. phone10 are empty)"},
        {"{\"phone1\": \"212 555 O1OO\"}", "phone1: '212 555 O1OO' contains letters"},
        {"{\"phone1\": \"2125550100\", \"note\": \"a\\u0000b\"}", "note: not valid UTF-8 text"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = json_row(&voice_us, cases[i].item, out, sizeof(out));
        if (rc != 1 || (cases[i].reason ? strcmp(out, cases[i].reason) != 0
                                        : strncmp(out, "not valid JSON: ", 16) != 0)) {
            fail_msg("'%s': rc %d '%s', expected '%s'", cases[i].item, rc, out,
                     cases[i].reason ? cases[i].reason : "not valid JSON: ...");
        }
    }
    /* An sms campaign's template fields must be in every item. */
    const char *need[] = {"first_name", "tier"};
    const gw_upload_rules sms_tmpl = {"US", 1, need, 2};
    assert_int_equal(json_row(&sms_tmpl, "{\"phone1\": \"2125550100\", \"first_name\": \"Al\"}",
                              out, sizeof(out)),
                     1);
    assert_string_equal(out, "tier: missing, but the message template uses {tier}");
    assert_int_equal(json_row(&sms_tmpl,
                              "{\"phone1\": \"2125550100\", \"first_name\": \" \", \"tier\": 1}",
                              out, sizeof(out)),
                     1);
    assert_string_equal(out, "first_name: empty, but the message template uses {first_name}");
    assert_int_equal(json_row(&sms_tmpl,
                              "{\"phone1\": \"2125550100\", \"first_name\": \"Al\", \"tier\": 1}",
                              out, sizeof(out)),
                     0);
}

/* The state / region / province column is read as a jurisdiction (a bare
 * code in the campaign's country), the subject_key / debt_id column kept
 * trimmed; both stay custom fields as written. Each number gets its own
 * jurisdiction, NULL for one without a place. */
static void test_upload_row_reads_jurisdiction_and_subject_columns(void **state)
{
    (void)state;
    char err[200], out[1024];
    gw_upload_header *h = header_of("phone1|phone2|State|debt_id", err, sizeof(err));
    assert_non_null(h);
    assert_int_equal(row(h, 3, "(305) 555-0100|+800 1234 5678| fl | D-77 ", out, sizeof(out)), 0);
    assert_string_equal(out, "3\t\\N\t\\N\t\\N\t{\"+13055550100\",\"+80012345678\"}\t"
                             "{\"State\":\" fl \",\"debt_id\":\" D-77 \"}\t\\N\t"
                             "{\"fixed_line_or_mobile\",\"toll_free\"}\t{\"\",\"\"}\t"
                             "{\"US-FL\",NULL}\tUS-FL\tD-77 | +13055550100 +80012345678");
    /* A full code as is, another country's number, empty columns NULL. */
    assert_int_equal(row(h, 4, "+14165550100||CA-ON|", out, sizeof(out)), 0);
    assert_string_equal(out, "4\t\\N\t\\N\t\\N\t{\"+14165550100\"}\t"
                             "{\"State\":\"CA-ON\",\"debt_id\":\"\"}\t\\N\t"
                             "{\"fixed_line_or_mobile\"}\t{\"\"}\t"
                             "{\"CA-ON\"}\tCA-ON\t\\N | +14165550100");
    gw_upload_header_destroy(h);

    h = header_of("phone1|province|subject_key", err, sizeof(err));
    assert_non_null(h);
    const gw_upload_rules voice_ca = {"CA", 0, NULL, 0};
    assert_int_equal(row_with(h, &voice_ca, 2, "+15146667777|Quebec|s", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\t{\"CA-QC\"}\tCA-QC\ts |"));
    gw_upload_header_destroy(h);
}

static void test_upload_row_rejects_unknown_state_and_long_subject(void **state)
{
    (void)state;
    char err[200], out[1024];
    gw_upload_header *h = header_of("phone1|region|subject_key", err, sizeof(err));
    assert_non_null(h);
    assert_int_equal(row(h, 2, "2125550100|ZZ|", out, sizeof(out)), 1);
    assert_string_equal(out, "region: unknown state or province 'ZZ' in US");
    assert_int_equal(row(h, 2, "2125550100|US-XY|", out, sizeof(out)), 1);
    assert_string_equal(out, "region: unknown state or province 'XY' in US");
    assert_int_equal(row(h, 2, "2125550100|X-1|", out, sizeof(out)), 1);
    assert_string_equal(out, "region: unknown state or province 'X-1' in US");
    char subject[160];
    memset(subject, 'k', 101);
    subject[101] = '\0';
    char fields[256];
    gw_test_format(fields, sizeof(fields), "2125550100|NY|%s", subject);
    assert_int_equal(row(h, 2, fields, out, sizeof(out)), 1);
    assert_string_equal(out, "subject_key: longer than 100 characters");
    subject[100] = '\0'; /* 100 is the most */
    gw_test_format(fields, sizeof(fields), "2125550100|NY|%s", subject);
    assert_int_equal(row(h, 2, fields, out, sizeof(out)), 0);
    /* 100 characters, not bytes: 100 two-byte letters pass. */
    char wide[256] = "2125550100|NY|";
    size_t at = strlen(wide);
    for (int i = 0; i < 100; i++, at += 2) {
        memcpy(wide + at, "\xC3\xA9", 2);
    }
    wide[at] = '\0';
    assert_int_equal(row(h, 2, wide, out, sizeof(out)), 0);
    assert_int_equal(row(h, 2, "2125550100|NY|a\xFF", out, sizeof(out)), 1);
    assert_string_equal(out, "subject_key: not valid UTF-8 text");
    gw_upload_header_destroy(h);

    /* Two names of one field in a header. */
    assert_null(header_of("phone1|State|Region", err, sizeof(err)));
    assert_string_equal(err, "header: column 3: 'State' and 'Region' name one field");
    assert_null(header_of("phone1|debt_id|subject_key", err, sizeof(err)));
    assert_string_equal(err, "header: column 3: 'debt_id' and 'subject_key' name one field");
}

static void test_upload_json_item_reads_jurisdiction_and_subject(void **state)
{
    (void)state;
    char out[1024];
    assert_int_equal(json_row(&voice_us,
                              "{\"phone1\": \"3055550100\", \"state\": \"FL\", \"debt_id\": 12345}",
                              out, sizeof(out)),
                     0);
    assert_non_null(strstr(out, "\t{\"US-FL\"}\tUS-FL\t12345"));
    assert_int_equal(json_row(&voice_us, "{\"phone1\": \"3055550100\", \"province\": \"Narnia\"}",
                              out, sizeof(out)),
                     1);
    assert_string_equal(out, "province: unknown state or province 'Narnia' in US");
    assert_int_equal(json_row(&voice_us,
                              "{\"phone1\": \"3055550100\", \"state\": \"FL\", \"region\": \"FL\"}",
                              out, sizeof(out)),
                     1);
    assert_string_equal(out, "'state' and 'region' name one field");
}

/* The pipeline the upload handler runs, without the DB: records with
 * lines, header, rows; rejected rows as "line:reason" and loaded lines. */
typedef struct {
    gw_upload_header *h;
    gw_upload_scratch *s;
    char rejected[1024];
    char loaded[256];
} pipe_state;

static int pipe_record(void *ctx, long long line, size_t n, const char *const *f, const size_t *l)
{
    pipe_state *p = ctx;
    char err[200];
    if (!p->h) {
        p->h = gw_upload_header_parse(n, f, l, err, sizeof(err));
        assert_non_null(p->h);
        return 0;
    }
    ecm_buf buf;
    ecm_buf_init(&buf, GW_TEST_BUF_MAX);
    gw_upload_row r;
    int rc = gw_upload_row_csv(p->h, &voice_us, p->s, line, n, f, l, &buf, &r, err, sizeof(err));
    if (rc == 1) {
        size_t used = strlen(p->rejected);
        gw_test_format(p->rejected + used, sizeof(p->rejected) - used, "%lld:%s;", line, err);
    } else {
        assert_int_equal(rc, 0);
        /* The COPY fragment starts with the line number. */
        assert_int_equal(strtoll(ecm_buf_ptr(&buf) + r.copy_off, NULL, 10), line);
        size_t used = strlen(p->loaded);
        gw_test_format(p->loaded + used, sizeof(p->loaded) - used, "%lld;", line);
    }
    ecm_buf_destroy(&buf);
    return 0;
}

static void test_upload_pipeline_reports_rejected_rows_on_their_lines(void **state)
{
    (void)state;
    const char csv[] = "\xEF\xBB\xBF"
                       "phone1,first_name,note\r\n"          /* 1 */
                       "2125550101,Ann,\"two\r\nlines\"\r\n" /* 2-3 */
                       "\r\n"                                /* 4 */
                       "2125550102,Bob\r\n"                  /* 5: 2 fields */
                       "bad-phone,Cy,\"x\ny\nz\"\r\n"        /* 6-8 */
                       "2125550104,Di,\"a,b\"\r\n"           /* 9 */
                       "2125550105,Ed,e,extra\n"             /* 10: 4 fields */
                       "2125550106,Flo,last";                /* 11 */
    for (size_t chunk = 1; chunk <= 17; chunk += 4) {
        pipe_state p = {0};
        p.s = gw_upload_scratch_new();
        char err[200];
        gw_csv *c = gw_csv_new(4096, pipe_record, &p);
        for (size_t off = 0; off < sizeof(csv) - 1; off += chunk) {
            size_t n = sizeof(csv) - 1 - off < chunk ? sizeof(csv) - 1 - off : chunk;
            assert_int_equal(gw_csv_feed(c, csv + off, n, err, sizeof(err)), 0);
        }
        assert_int_equal(gw_csv_finish(c, err, sizeof(err)), 0);
        gw_csv_destroy(c);
        assert_string_equal(p.rejected, "5:expected 3 fields, found 2;"
                                        "6:phone1: 'bad-phone' contains letters;"
                                        "10:expected 3 fields, found 4;");
        assert_string_equal(p.loaded, "2;9;11;");
        gw_upload_header_destroy(p.h);
        gw_upload_scratch_destroy(p.s);
    }
}

int main(void)
{
    ecm_test_log_init("test_gw_upload_row", ECM_LOG_WARN);
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_upload_header_maps_columns_by_trimmed_case_insensitive_name),
        cmocka_unit_test(test_upload_row_escapes_custom_fields_for_copy),
        cmocka_unit_test(test_upload_header_refusals_say_why),
        cmocka_unit_test(test_upload_row_rejections_name_the_column_and_the_reason),
        cmocka_unit_test(test_upload_row_reads_numbers_the_way_people_write_them),
        cmocka_unit_test(test_upload_sms_row_needs_a_number_that_may_be_mobile),
        cmocka_unit_test(test_upload_row_with_nul_byte_is_rejected),
        cmocka_unit_test(test_upload_json_item_maps_keys_like_csv_headers),
        cmocka_unit_test(test_upload_pipeline_reports_rejected_rows_on_their_lines),
        cmocka_unit_test(test_upload_row_reads_jurisdiction_and_subject_columns),
        cmocka_unit_test(test_upload_row_rejects_unknown_state_and_long_subject),
        cmocka_unit_test(test_upload_json_item_reads_jurisdiction_and_subject),
    };
    return cmocka_run_group_tests_name("pure", pure, NULL, NULL);
}
