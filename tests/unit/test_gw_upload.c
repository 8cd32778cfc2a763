/* gw_upload: the thread budget and upload slots, report reasons; and, with
 * ECM_TEST_PG_DSN, the gateway's HTTP API against a scratch database: a CSV full of
 * real-world trouble and a JSON array, each row loaded right or reported on
 * its line; duplicates within a file; the paged report; a streamed upload of
 * 12,000 rows in batches on several threads. The load's side (DNC, races,
 * limits) is test_gw_upload_load.c. */
/* ---- HTTP against a scratch DB ----------------------------------------- */

#define PORT_FIRST 20450
#define PORT_LAST 20499
#include "gw_upload_test_support.h"
#include "gw_upload_pool.h"
#include "gw_upload_state.h"

/* The validating threads follow the loader: one fewer while the request's
 * thread waits for the loader longer than the slower validation would take,
 * the same when the wait would not cover it, one more (up to nworkers) when
 * the loader was the one waiting; never under one. */
static void test_upload_pool_pace_follows_the_loader(void **state)
{
    (void)state;
    static gw_upload u; /* large: not on the stack */
    gw_upload_batch b = {0};
    u.nworkers = 4;
    b.threads = 2;
    b.validate_ms = 100; /* one thread: about 200 ms */
    gw_upload_pool_pace(&u, &b, 150);
    assert_int_equal(u.nvalidate, 1);
    gw_upload_pool_pace(&u, &b, 90);
    assert_int_equal(u.nvalidate, 2);
    gw_upload_pool_pace(&u, &b, 5);
    assert_int_equal(u.nvalidate, 3);
    b.threads = 1;
    b.validate_ms = 200;
    gw_upload_pool_pace(&u, &b, 400);
    assert_int_equal(u.nvalidate, 1);
    b.threads = 4;
    gw_upload_pool_pace(&u, &b, 0);
    assert_int_equal(u.nvalidate, 4);
}

static void test_upload_limits_share_helper_threads_and_slots(void **state)
{
    (void)state;
    gw_upload_limits *l = gw_upload_limits_new(2, 4); /* 3 helpers beside the uploads' own */
    assert_non_null(l);
    /* One upload alone takes the whole budget; the next gets what is free. */
    assert_int_equal(gw_upload_limits_threads_take(l, 8), 3);
    assert_int_equal(gw_upload_limits_threads_take(l, 2), 0);
    gw_upload_limits_threads_give(l, 3);
    assert_int_equal(gw_upload_limits_threads_take(l, 1), 1);
    assert_int_equal(gw_upload_limits_threads_take(l, 5), 2);
    gw_upload_limits_threads_give(l, 3);
    assert_int_equal(gw_upload_limits_enter(l), 1);
    assert_int_equal(gw_upload_limits_enter(l), 1);
    assert_int_equal(gw_upload_limits_enter(l), 0);
    assert_int_equal(gw_upload_limits_running(l), 2);
    gw_upload_limits_leave(l);
    assert_int_equal(gw_upload_limits_enter(l), 1);
    gw_upload_limits_leave(l);
    gw_upload_limits_leave(l);
    assert_int_equal(gw_upload_limits_running(l), 0);
    gw_upload_limits_destroy(l);
    /* No limits: everything asked for. */
    assert_int_equal(gw_upload_limits_threads_take(NULL, 5), 5);
    assert_int_equal(gw_upload_limits_enter(NULL), 1);
}

/* The state column lands in contacts.region (a bare code in the campaign's
 * country), debt_id in contacts.subject_key, each number's own
 * jurisdiction in contacts.phone_regions; an unknown state is a rejected
 * row reported on its line while the good rows load. CSV and JSON. */
static void test_api_upload_stores_jurisdiction_and_subject_per_contact(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Jurisdiction");
    json_t *a = upload_contacts(f, id, "text/csv",
                                "account_number,phone1,phone2,state,debt_id\n"
                                "A1,(305) 555-0100,+14165550100,FL,D-1\n"   /* 2 */
                                "A2,2125550101,,ZZ,D-2\n"                   /* 3 */
                                "A3,+442079460958,,,\n"                     /* 4 */
                                "A4,2015550100,+80012345678,us-ny,  D 4 \n" /* 5 */
                                "A5,2125550102,,US-QQ,\n");                 /* 6 */
    long long up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 3);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 2);
    json_decref(a);
    expect_jurisdiction(f, up, 2, "A1|US-FL|D-1|{US-FL,CA-ON}");
    expect_jurisdiction(f, up, 3, "none");
    expect_jurisdiction(f, up, 4, "A3|-|-|{GB}");
    expect_jurisdiction(f, up, 5, "A4|US-NY|D 4|{US-NJ,NULL}");
    expect_jurisdiction(f, up, 6, "none");
    char *report = report_walk(f, up, NULL, 10);
    assert_string_equal(report, "3:rejected:state: unknown state or province 'ZZ' in US;"
                                "6:rejected:state: unknown state or province 'QQ' in US;");
    free(report);
    /* The column as written stays a custom field too. */
    char sql[256];
    gw_test_format(sql, sizeof(sql),
                   "SELECT custom->>'state' FROM contacts WHERE upload_id = %lld AND line_no = 5",
                   up);
    char *custom = ecm_test_pg_text(f->conn, "%s", sql);
    assert_string_equal(custom, "us-ny");
    free(custom);

    a = upload_contacts(f, id, "application/json",
                        "[{\"account_number\": \"J1\", \"phone1\": \"+18005550100\", "
                        "\"region\": \"CA-ON\", \"subject_key\": 7},"
                        "{\"account_number\": \"J2\", \"phone1\": \"+18005550101\", "
                        "\"province\": \"ON\"},"
                        "{\"account_number\": \"J3\", \"phone1\": \"+17875550100\", "
                        "\"debt_id\": \"x\"}]");
    up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 2);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 1);
    json_decref(a);
    expect_jurisdiction(f, up, 1, "J1|CA-ON|7|{US}");
    expect_jurisdiction(f, up, 3, "J3|-|x|{US-PR}");
    report = report_walk(f, up, NULL, 10);
    assert_string_equal(report, "2:rejected:province: unknown state or province 'ON' in US;");
    free(report);
}

static void test_api_upload_of_a_troubled_csv_loads_or_reports_every_row(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Trouble");
    size_t len;
    char *csv = read_data("trouble.csv", &len);
    /* Batches of 3 rows: duplicates and line numbers cross batches. */
    f->app.upload_batch = 3;
    json_t *a = upload_contacts(f, id, "text/csv", csv);
    long long up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_read"), 17);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 8);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 8);
    assert_int_equal(gw_test_jint_at(a, "rows_duplicate"), 1);
    assert_int_equal(gw_test_jint_at(a, "rows_dnc"), 0);
    assert_int_equal(gw_test_jint_at(a, "progress.bytes_read"), (long long)len);
    /* Each batch's rejected rows join the answer when the loader thread has
     * loaded it: still in the order of the file. */
    static const long long rejected_lines[] = {7, 8, 10, 11, 17, 19, 20, 21};
    json_t *errors = json_object_get(a, "errors");
    assert_int_equal(json_array_size(errors), 8);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(gw_test_jint_at(json_array_get(errors, i), "line"), rejected_lines[i]);
    }
    json_decref(a);

    static const struct {
        long long line;
        const char *contact;
    } loaded[] = {
        {2, "A01|{+12125550100}|{fixed_line_or_mobile}|{\"\"}|queued|-"},
        {3, "A02|{+442079460958}|{fixed_line}|{Europe/London}|queued|-"},
        {4, "A03|{+33142685300}|{fixed_line}|{Europe/Paris}|queued|-"},
        {9, "A06|{+16465550101}|{fixed_line_or_mobile}|{\"\"}|queued|-"},
        {13, "A09|{+923001234567}|{mobile}|{Asia/Karachi}|queued|-"},
        {18, "A12|{+61293744000,+16465550104}|{fixed_line,fixed_line_or_mobile}|{\"\",\"\"}|"
             "queued|-"},
        {22, "A16|{+12125550106}|{fixed_line_or_mobile}|{\"\"}|queued|-"},
        {23, "A17|{+33612345678}|{mobile}|{Europe/Paris}|queued|-"},
    };
    for (size_t i = 0; i < sizeof(loaded) / sizeof(loaded[0]); i++) {
        expect_contact(f, up, loaded[i].line, loaded[i].contact);
    }
    char sql[512];
    gw_test_format(
        sql, sizeof(sql),
        "SELECT concat_ws('|', first_name, last_name, time_zone, custom->>'note') "
        "FROM contacts WHERE upload_id = %lld AND line_no IN (3, 4, 9, 13) ORDER BY line_no",
        up);
    PGresult *r = ecm_test_pg_query(f->conn, "%s", sql);
    assert_int_equal(PQntuples(r), 4);
    assert_string_equal(PQgetvalue(r, 0, 0), "Jos\xC3\xA9|M\xC3\xBCller|quoted, comma");
    assert_string_equal(PQgetvalue(r, 1, 0), "Fran\xC3\xA7ois|\xC3\x91\xC3\xBA\xC3\xB1"
                                             "ez|two\r\nlines");
    assert_string_equal(PQgetvalue(r, 2, 0), "Dan|O\"Brien|stray \"quote");
    assert_string_equal(PQgetvalue(r, 3, 0), "Ida|Jay|Asia/Karachi|multi\nline\nnote");
    PQclear(r);
    const char *expected_report = "7:rejected:phone2: '212 555 O1OO' contains letters;"
                                  "8:rejected:phone1: '555-12' too short;"
                                  "10:rejected:expected 7 fields, found 4;"
                                  "11:rejected:expected 7 fields, found 8;"
                                  "16:duplicate:+12125550100 is already on line 2 of this file;"
                                  "17:rejected:time_zone: 'Mars/Olympus' is not a time zone name;"
                                  "19:rejected:phone1: '1-800-FLOWERS' contains letters;"
                                  "20:rejected:phone1: '212-555-0105 x12' has an extension;"
                                  "21:rejected:no phone number (phone1 .. phone10 are empty);";
    for (int limit = 1; limit <= 10; limit += 3) {
        char *report = report_walk(f, up, NULL, limit);
        assert_string_equal(report, expected_report);
        free(report);
    }
    /* One ContactsUploaded per batch of 3 rows read that loaded any: the
     * batch of lines 19-21 loads none. */
    static const long long batch_lines[][3] = {
        {2, 4, 3}, {7, 9, 1}, {10, 13, 1}, {16, 18, 1}, {22, 23, 2}};
    uploaded_events ev;
    uploaded_events_get(f, id, up, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
    assert_int_equal(ev.n, 5);
    for (size_t i = 0; i < ev.n; i++) {
        assert_int_equal(ev.ev[i]->first_line, batch_lines[i][0]);
        assert_int_equal(ev.ev[i]->last_line, batch_lines[i][1]);
        assert_int_equal(ev.ev[i]->n_contact_ids, batch_lines[i][2]);
    }
    uploaded_events_destroy(&ev);
    char *dups = report_walk(f, up, "duplicate", 5);
    assert_string_equal(dups, "16:duplicate:+12125550100 is already on line 2 of this file;");
    free(dups);
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contact_phones WHERE campaign_id = %lld",
                   id);
    assert_int_equal(sql_count(f->conn, sql), 9);

    /* The same file again: every good row is now a duplicate of the first
     * upload's row, named by upload and line. */
    a = upload_contacts(f, id, "text/csv; charset=UTF-8", csv);
    long long up2 = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 0);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 8);
    assert_int_equal(gw_test_jint_at(a, "rows_duplicate"), 9);
    json_decref(a);
    uploaded_events_get(f, id, up2, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
    assert_int_equal(ev.n, 0); /* nothing loaded, nothing announced */
    char *report = report_walk(f, up2, "duplicate", 100);
    char first[160];
    gw_test_format(
        first, sizeof(first),
        "2:duplicate:+12125550100 is already a contact of this campaign (upload %lld, line "
        "2);",
        up);
    assert_true(strncmp(report, first, strlen(first)) == 0);
    gw_test_format(first, sizeof(first),
                   "18:duplicate:+61293744000 is already a contact of this campaign (upload %lld, "
                   "line 18);",
                   up);
    assert_non_null(strstr(report, first));
    free(report);
    f->app.upload_batch = 5000;
    free(csv);
}

/* The CSV of issue 11: a rejected field of multibyte characters among 100
 * good rows. Its reason used to quote the field cut at a byte count, which
 * split a character; PostgreSQL refused the report row, the batch rolled
 * back and the upload answered 503 with nothing loaded. */
static void test_api_upload_multibyte_rejections_cost_no_good_row(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Multibyte");
    static const char e_acute[] = "\xC3\xA9";
    enum { CSV_CAP = 64 * 1024 };
    char *csv = calloc(1, CSV_CAP);
    assert_non_null(csv);
    size_t used = gw_test_format(csv, CSV_CAP, "account_number,phone1,time_zone,r\xC3\xA9gion\n");
    for (int i = 0; i < 100; i++) {
        if (i == 50) {
            /* line 52: 'a' and thirty e-acutes (61 bytes, 31 characters) */
            used += gw_test_format(csv + used, CSV_CAP - used, "BAD1,a");
            for (int k = 0; k < 30; k++) {
                used += gw_test_format(csv + used, CSV_CAP - used, "%s", e_acute);
            }
            used += gw_test_format(csv + used, CSV_CAP - used, ",,x\n");
            /* line 53: sixty of them as a time zone: quoted to 40 characters */
            used += gw_test_format(csv + used, CSV_CAP - used, "BAD2,+442079460999,");
            for (int k = 0; k < 60; k++) {
                used += gw_test_format(csv + used, CSV_CAP - used, "%s", e_acute);
            }
            used += gw_test_format(csv + used, CSV_CAP - used, ",x\n");
        }
        used += gw_test_format(csv + used, CSV_CAP - used,
                               "G%03d,+44 20 7946 %04d,,\xE2\x82\xAC%d\n", i, i, i);
    }
    json_t *a = upload_contacts(f, id, "text/csv", csv);
    long long up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_read"), 102);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 100);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 2);
    json_decref(a);

    char expected[1024];
    size_t n = gw_test_format(expected, sizeof(expected), "52:rejected:phone1: 'a");
    for (int k = 0; k < 30; k++) {
        n += gw_test_format(expected + n, sizeof(expected) - n, "%s", e_acute);
    }
    n += gw_test_format(expected + n, sizeof(expected) - n,
                        "' contains letters;53:rejected:time_zone: '");
    for (int k = 0; k < 40; k++) {
        n += gw_test_format(expected + n, sizeof(expected) - n, "%s", e_acute);
    }
    gw_test_format(expected + n, sizeof(expected) - n, "...' is not a time zone name;");
    char *report = report_walk(f, up, NULL, 10);
    assert_true(ecm_utf8_valid(report, strlen(report)));
    assert_string_equal(report, expected);
    free(report);
    char sql[256];
    gw_test_format(
        sql, sizeof(sql),
        "SELECT count(*) FROM contacts WHERE upload_id = %lld AND custom->>'r\xC3\xA9gion' "
        "LIKE '\xE2\x82\xAC%%'",
        up);
    assert_int_equal(sql_count(f->conn, sql), 100);

    /* A DNC list the same way: the bad number quoted whole, by characters. */
    used = gw_test_format(csv, CSV_CAP, "phone,reason\n+442079461000,ok\n");
    used += gw_test_format(csv + used, CSV_CAP - used, "a");
    for (int k = 0; k < 45; k++) {
        used += gw_test_format(csv + used, CSV_CAP - used, "%s", e_acute);
    }
    gw_test_format(csv + used, CSV_CAP - used, ",x\n+442079461001,ok\n");
    a = upload_ok(f, "/api/v1/dnc/uploads", "text/csv", csv);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 2);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 1);
    report = report_walk(f, gw_test_jint_at(a, "upload_id"), "rejected", 10);
    json_decref(a);
    n = gw_test_format(expected, sizeof(expected), "3:rejected:phone: 'a");
    for (int k = 0; k < 39; k++) {
        n += gw_test_format(expected + n, sizeof(expected) - n, "%s", e_acute);
    }
    gw_test_format(expected + n, sizeof(expected) - n, "...' is not a phone number;");
    assert_string_equal(report, expected);
    free(report);
    free(csv);
}

/* A reason made of outside text is kept valid whatever built it: ill-formed
 * bytes become U+FFFD, and an over-long reason is cut at a character. */
static void test_upload_report_reason_is_always_valid_utf8(void **state)
{
    (void)state;
    ecm_buf rows;
    ecm_buf_init(&rows, GW_TEST_BUF_MAX);
    assert_int_equal(gw_upload_report_add(&rows, 7, 3, "rejected", "bad \xC3 byte\tand \xE2\x82"),
                     0);
    assert_string_equal(ecm_buf_ptr(&rows),
                        "7\t3\trejected\tbad \xEF\xBF\xBD byte\\tand \xEF\xBF\xBD\n");
    ecm_buf_reset(&rows);
    char *long_reason = malloc(4000);
    assert_non_null(long_reason);
    size_t k = 0;
    while (k + 2 < 3999) {
        memcpy(long_reason + k, "\xC3\xA9", 2);
        k += 2;
    }
    long_reason[k] = '\0';
    assert_int_equal(gw_upload_report_add(&rows, 7, 4, "rejected", long_reason), 0);
    assert_true(ecm_utf8_valid(ecm_buf_ptr(&rows), ecm_buf_len(&rows)));
    assert_true(ecm_buf_len(&rows) < GW_UPLOAD_REASON_MAX + 32);
    free(long_reason);
    ecm_buf_destroy(&rows);
}

static void test_api_json_array_upload_reports_items_by_position(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Json");
    size_t len;
    char *body = read_data("trouble.json", &len);
    f->app.upload_batch = 4;
    json_t *a = upload_contacts(f, id, "application/json", body);
    long long up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_read"), 10);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 4);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 5);
    assert_int_equal(gw_test_jint_at(a, "rows_duplicate"), 1);
    json_decref(a);
    expect_contact(f, up, 1, "J01|{+12125550110}|{fixed_line_or_mobile}|{\"\"}|queued|-");
    expect_contact(f, up, 2, "J02|{+12125550111}|{fixed_line_or_mobile}|{\"\"}|queued|-");
    expect_contact(f, up, 7, "J07|{+33612345679}|{mobile}|{Europe/Paris}|queued|-");
    expect_contact(f, up, 10, "J10|{+442079460960}|{fixed_line}|{Europe/London}|queued|-");
    char sql[256];
    gw_test_format(sql, sizeof(sql),
                   "SELECT custom::text FROM contacts WHERE upload_id = %lld AND line_no = 7", up);
    char *custom = ecm_test_pg_text(f->conn, "%s", sql);
    assert_string_equal(custom, "{\"note\": \"a ] b \\\" c { ,\"}");
    free(custom);
    /* Batches of 4 items: 1-4 loads 1 and 2, 5-8 loads 7, 9-10 loads 10. */
    uploaded_events ev;
    uploaded_events_get(f, id, up, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
    assert_int_equal(ev.n, 3);
    assert_int_equal(ev.ev[0]->first_line, 1);
    assert_int_equal(ev.ev[0]->last_line, 4);
    assert_int_equal(ev.ev[0]->n_contact_ids, 2);
    assert_int_equal(ev.ev[1]->first_line, 5);
    assert_int_equal(ev.ev[1]->last_line, 8);
    assert_int_equal(ev.ev[1]->n_contact_ids, 1);
    assert_int_equal(ev.ev[2]->first_line, 9);
    assert_int_equal(ev.ev[2]->last_line, 10);
    assert_int_equal(ev.ev[2]->n_contact_ids, 1);
    uploaded_events_destroy(&ev);
    char *report = report_walk(f, up, NULL, 2);
    assert_string_equal(report, "3:rejected:phone1: '212 555 O1OO' contains letters;"
                                "4:rejected:not a JSON object;"
                                "5:duplicate:+12125550110 is already on line 1 of this file;"
                                "6:rejected:extra: must be a string or a number;"
                                "8:rejected:'PHONE1' appears twice;"
                                "9:rejected:no phone number (phone1 .. phone10 are missing);");
    free(report);
    f->app.upload_batch = 5000;
    free(body);

    /* A body that is no array, or not a whole one, fails and says where. */
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    assert_int_equal(
        request(f, "POST", path, "application/json", "{\"phone1\": 1}", NULL, NULL, &a, NULL, 0),
        422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "expected '['"));
    json_decref(a);
    assert_int_equal(request(f, "POST", path, "application/json",
                             "[{\"phone1\": \"2125550130\"}, {\"phone1\": \"21", NULL, NULL, &a,
                             NULL, 0),
                     422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "item 2: the item is not closed"));
    json_decref(a);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM contacts c JOIN uploads u ON u.id = c.upload_id "
                   "WHERE u.campaign_id = %lld AND u.state = 'failed' "
                   "AND c.phones = '{+12125550130}'",
                   id);
    assert_int_equal(sql_count(f->conn, sql), 1); /* item 1 was kept */
}

static void test_api_campaign_life_cycle_and_validation(void **state)
{
    fixture *f = *state;
    if (!f) {
        skip();
    }
    json_t *a = NULL;
    long st = request(f, "POST", "/api/v1/campaigns", "application/json",
                      "{\"name\":\"x\",\"channel\":\"voice_ivr\"}", NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 400);
    assert_non_null(strstr(gw_test_jstr(a, "type"), "validation"));
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "cisco"));
    json_decref(a);

    st = request(f, "POST", "/api/v1/campaigns", "application/json",
                 "{\"name\":\"x\",\"channel\":\"sms\",\"strategy\":\"Nope\","
                 "\"sms\":{\"template\":\"Hi\"}}",
                 NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "strategy"));
    json_decref(a);

    st = request(f, "POST", "/api/v1/campaigns", "application/json",
                 "{\"name\":\"x\",\"channel\":\"sms\",\"time_zone\":\"Mars/Olympus\","
                 "\"sms\":{\"template\":\"Hi\"}}",
                 NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "time_zone"));
    json_decref(a);

    long long id = create_campaign(
        f, "{\"name\":\"Life\",\"channel\":\"voice_agent\",\"time_zone\":\"America/New_York\","
           "\"cisco\":{\"kind\":\"uccx\",\"campaign_id\":\"42\"},"
           "\"start_at\":\"2026-01-01T09:00:00+01:00\"}");
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/pause", id);
    st = request(f, "POST", path, NULL, NULL, NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 409);
    assert_non_null(strstr(gw_test_jstr(a, "type"), "conflict"));
    json_decref(a);
    static const struct {
        const char *action, *state;
    } steps[] = {
        {"activate", "active"}, {"pause", "paused"}, {"activate", "active"}, {"stop", "stopped"}};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/%s", id, steps[i].action);
        st = request(f, "POST", path, NULL, NULL, NULL, NULL, &a, NULL, 0);
        assert_int_equal(st, 200);
        assert_string_equal(gw_test_jstr(a, "state"), steps[i].state);
        json_decref(a);
    }
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/activate", id);
    assert_int_equal(request(f, "POST", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 409);
    json_decref(a);

    /* A stopped campaign takes no uploads. */
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    st = request(f, "POST", path, "text/csv", "phone1\n5551234567\n", NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 409);
    json_decref(a);

    /* One CampaignChanged per change, creation included, keyed by id. */
    char sql[256];
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM outbox WHERE ce_type = 'ecm.v1.CampaignChanged' "
                   "AND msg_key = '%lld'",
                   id);
    assert_int_equal(sql_count(f->conn, sql), 5);

    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    assert_string_equal(gw_test_jstr(a, "start_at"), "2026-01-01T08:00:00.000Z");
    assert_string_equal(gw_test_jstr(json_object_get(a, "cisco"), "campaign_id"), "42");
    json_decref(a);
    assert_int_equal(
        request(f, "GET", "/api/v1/campaigns/999999", NULL, NULL, NULL, NULL, &a, NULL, 0), 404);
    json_decref(a);
}
static void test_api_upload_streams_12000_rows_in_batches(void **state)
{
    fixture *f = *state;
    if (!f) {
        skip();
    }
    long long id = create_campaign(f, "{\"name\":\"Big\",\"channel\":\"voice_ivr\","
                                      "\"cisco\":{\"kind\":\"uccx\",\"campaign_id\":\"7\"}}");
    char path[128];
    json_t *a = NULL;
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    assert_int_equal(request(f, "POST", path, "multipart/form-data; boundary=x", "--x--", NULL,
                             NULL, &a, NULL, 0),
                     415);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "text/csv"));
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "application/json"));
    json_decref(a);

    generator g = {0};
    long st =
        request(f, "POST", path, "text/csv; charset=utf-8", NULL, read_generated, &g, &a, NULL, 0);
    if (st != 202) {
        char *d = json_dumps(a, JSON_COMPACT);
        fail_msg("upload answered %ld: %s", st, d);
    }
    assert_int_equal(g.nbad, 3);
    assert_int_equal(gw_test_jint_at(a, "rows_read"), TEST_ROWS);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 3);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), TEST_ROWS - 3);
    long long upload_id = gw_test_jint_at(a, "upload_id");
    char report[64];
    gw_test_format(report, sizeof(report), "/api/v1/uploads/%lld", upload_id);
    assert_string_equal(gw_test_jstr(a, "report_url"), report);
    json_t *errors = json_object_get(a, "errors");
    assert_int_equal(json_array_size(errors), 3);
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(errors, (size_t)i);
        assert_int_equal(gw_test_jint_at(e, "line"), g.bad_lines[i]);
        assert_string_equal(gw_test_jstr(e, "reason"), g.bad_reasons[i]);
    }
    json_decref(a);

    /* Loaded 'queued', ready for the feeder once the campaign is active;
     * announced by one ContactsUploaded per batch of 5,000 rows read
     * (12,000 rows: 3), keyed by the campaign, none per contact. */
    char sql[512];
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE upload_id = %lld",
                   upload_id);
    assert_int_equal(sql_count(f->conn, sql), TEST_ROWS - 3);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM contacts WHERE upload_id = %lld AND state = 'queued' "
                   "AND attempts = 0 AND outcome IS NULL",
                   upload_id);
    assert_int_equal(sql_count(f->conn, sql), TEST_ROWS - 3);
    uploaded_events ev;
    uploaded_events_get(f, id, upload_id, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
    assert_int_equal(ev.n, (TEST_ROWS + 4999) / 5000);
    /* rows 1-5000 (5000 rejected), 5001-10000 (9000 rejected), the rest
     * (one, 11000, after a blank line) */
    assert_int_equal(ev.ev[0]->first_line, 2);
    assert_int_equal(ev.ev[0]->last_line, g.bad_lines[1]);
    assert_int_equal(ev.ev[0]->n_contact_ids, 4998);
    assert_int_equal(ev.ev[1]->first_line, g.bad_lines[1] + 1);
    assert_int_equal(ev.ev[1]->n_contact_ids, 4999);
    assert_int_equal(ev.ev[2]->first_line, ev.ev[1]->last_line + 1);
    assert_int_equal(ev.ev[2]->last_line, g.line_of_last_row);
    assert_int_equal(ev.ev[2]->n_contact_ids, 2000);
    assert_int_equal(strlen(ev.ev[0]->event_id), 36);
    assert_string_not_equal(ev.ev[0]->event_id, ev.ev[1]->event_id);
    uploaded_events_destroy(&ev);
    assert_int_equal(
        sql_count(f->conn, "SELECT count(*) FROM outbox WHERE ce_type = 'ecm.v1.ContactUploaded'"),
        0);
    gw_test_format(
        sql, sizeof(sql),
        "SELECT count(*) FROM outbox WHERE topic = 'contacts.uploaded' AND msg_key = '%lld'", id);
    assert_int_equal(sql_count(f->conn, sql), (TEST_ROWS + 4999) / 5000);
    gw_test_format(
        sql, sizeof(sql),
        "SELECT count(*) FROM contacts WHERE account_number = 'ACC100' AND line_no = %lld "
        "AND custom->>'note' = E'two\\r\\nlines'",
        g.line_of_row_100);
    assert_int_equal(sql_count(f->conn, sql), 1);
    gw_test_format(
        sql, sizeof(sql),
        "SELECT count(*) FROM contacts WHERE account_number = 'ACC%d' AND line_no = %lld "
        "AND phones = ARRAY['+1212%03d%04d', '+1646%03d%04d'] AND first_name = 'First%d'",
        TEST_ROWS, g.line_of_last_row, 200 + TEST_ROWS / 10000, TEST_ROWS % 10000,
        200 + TEST_ROWS / 10000, TEST_ROWS % 10000, TEST_ROWS);
    assert_int_equal(sql_count(f->conn, sql), 1);

    /* The report, paged by line: the rows after the first bad line. */
    gw_test_format(path, sizeof(path), "/api/v1/uploads/%lld?after=%lld&limit=1", upload_id,
                   g.bad_lines[0]);
    assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    assert_string_equal(gw_test_jstr(a, "state"), "done");
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 3);
    assert_int_equal(json_array_size(json_object_get(a, "rows")), 1);
    assert_int_equal(gw_test_jint_at(json_array_get(json_object_get(a, "rows"), 0), "line"),
                     g.bad_lines[1]);
    assert_int_equal(gw_test_jint_at(a, "next_after"), g.bad_lines[1]);
    assert_true(gw_test_jint_at(a, "progress.bytes_read") > TEST_ROWS * 30);
    /* The same page through ?cursor, as every list pages; its next_cursor
     * leads to the third row. */
    char next[32];
    gw_test_format(next, sizeof(next), "%s", gw_test_jstr(a, "next_cursor"));
    json_decref(a);
    gw_test_format(path, sizeof(path), "/api/v1/uploads/%lld?cursor=%s&limit=1", upload_id, next);
    assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    assert_int_equal(gw_test_jint_at(json_array_get(json_object_get(a, "rows"), 0), "line"),
                     g.bad_lines[2]);
    json_decref(a);
    char *all = report_walk(f, upload_id, "rejected", 2);
    char expected[512];
    gw_test_format(expected, sizeof(expected),
                   "%lld:rejected:%s;%lld:rejected:%s;%lld:rejected:%s;", g.bad_lines[0],
                   g.bad_reasons[0], g.bad_lines[1], g.bad_reasons[1], g.bad_lines[2],
                   g.bad_reasons[2]);
    assert_string_equal(all, expected);
    free(all);
    /* Every contact's line is the line of its row, whatever thread read
     * it: row i's account number ends in i, its number in i too. */
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM contacts WHERE upload_id = %lld AND "
                   "right(phones[1], 4)::int <> substr(account_number, 4)::int %% 10000",
                   upload_id);
    assert_int_equal(sql_count(f->conn, sql), 0);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM (SELECT line_no, lag(line_no) OVER (ORDER BY id) AS prev "
                   "FROM contacts WHERE upload_id = %lld) x WHERE line_no <= prev",
                   upload_id);
    assert_int_equal(sql_count(f->conn, sql), 0);

    /* The campaign's counts, alone and in the list. */
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    assert_int_equal(request(f, "GET", path, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    assert_int_equal(gw_test_jint_at(a, "counts.contacts"), TEST_ROWS - 3);
    assert_int_equal(gw_test_jint_at(a, "counts.by_state.queued"), TEST_ROWS - 3);
    assert_int_equal(gw_test_jint_at(a, "counts.by_state.closed"), 0);
    assert_int_equal(gw_test_jint_at(a, "counts.attempts"), 0);
    json_decref(a);
    assert_int_equal(
        request(f, "GET", "/api/v1/campaigns?limit=1", NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    json_t *items = json_object_get(a, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_int_equal(gw_test_jint_at(json_array_get(items, 0), "id"), id); /* newest first */
    assert_int_equal(gw_test_jint_at(json_array_get(items, 0), "counts.contacts"), TEST_ROWS - 3);
    char cursor[64];
    gw_test_format(cursor, sizeof(cursor), "/api/v1/campaigns?limit=1&cursor=%s",
                   gw_test_jstr(a, "next_cursor"));
    json_decref(a);
    assert_int_equal(request(f, "GET", cursor, NULL, NULL, NULL, NULL, &a, NULL, 0), 200);
    items = json_object_get(a, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_true(gw_test_jint_at(json_array_get(items, 0), "id") < id);
    json_decref(a);
}

static void test_api_upload_with_bad_header_fails_and_says_why(void **state)
{
    fixture *f = *state;
    if (!f) {
        skip();
    }
    long long id =
        create_campaign(f, "{\"name\":\"Hdr\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\"}}");
    char path[128];
    json_t *a = NULL;
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    long st = request(f, "POST", path, "text/csv", "\n\nname,number\nAnn,5551234567\n", NULL, NULL,
                      &a, NULL, 0);
    assert_int_equal(st, 422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "line 3: header: no phone column"));
    json_decref(a);
    assert_int_equal(sql_count(f->conn, "SELECT count(*) FROM uploads WHERE state = 'failed'"), 1);
    assert_int_equal(sql_count(f->conn, "SELECT count(*) FROM upload_rows r JOIN uploads u "
                                        "ON u.id = r.upload_id WHERE u.state = 'failed' "
                                        "AND r.line_no = 3 AND r.kind = 'rejected' "
                                        "AND r.reason LIKE 'header: no phone column%'"),
                     1);

    st = request(f, "POST", path, "text/csv", "phone1\n\"2125551234\n", NULL, NULL, &a, NULL, 0);
    assert_int_equal(st, 422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "line 2: quoted field not closed"));
    json_decref(a);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    ecm_test_log_init("test_gw_upload", ECM_LOG_WARN);
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_upload_limits_share_helper_threads_and_slots),
        cmocka_unit_test(test_upload_pool_pace_follows_the_loader),
        cmocka_unit_test(test_upload_report_reason_is_always_valid_utf8),
    };
    const struct CMUnitTest db[] = {
        cmocka_unit_test(test_api_campaign_life_cycle_and_validation),
        cmocka_unit_test(test_api_upload_streams_12000_rows_in_batches),
        cmocka_unit_test(test_api_upload_with_bad_header_fails_and_says_why),
        cmocka_unit_test(test_api_upload_of_a_troubled_csv_loads_or_reports_every_row),
        cmocka_unit_test(test_api_json_array_upload_reports_items_by_position),
        cmocka_unit_test(test_api_upload_stores_jurisdiction_and_subject_per_contact),
        cmocka_unit_test(test_api_upload_multibyte_rejections_cost_no_good_row),
    };
    int failed = cmocka_run_group_tests_name("pure", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("db", db, setup_db, gw_test_api_teardown);
    curl_global_cleanup();
    return failed;
}
