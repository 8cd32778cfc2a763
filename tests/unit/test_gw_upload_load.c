/* gw_upload with ECM_TEST_PG_DSN, the load's side through the gateway's HTTP
 * API against a scratch database: DNC at upload (closed, ContactClosed) and DNC list uploads;
 * concurrent uploads to one campaign loading each number once; an upload cut short keeping the rows
 * before the cut; the upload cap (429) and a busy pool (503). The rows' side is test_gw_upload.c.
 */
#define PORT_FIRST 20750
#define PORT_LAST 20799
#include "gw_upload_test_support.h"

static void test_api_dnc_lists_by_upload_and_dnc_rows_load_closed(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Dnc");
    long long other = voice_campaign(f, "Other");
    char path[128];

    /* The global list, by CSV upload: a bad number, a reason, a number
     * twice. */
    json_t *a = upload_ok(f, "/api/v1/dnc/uploads", "text/csv",
                          "Phone,reason,extra\r\n"
                          "(212) 555-0120,asked us,x\r\n"
                          "212 555 O1OO,,\r\n"
                          "212.555.0120,again,\r\n");
    long long g = gw_test_jint_at(a, "upload_id");
    assert_string_equal(gw_test_jstr(a, "kind"), "dnc");
    assert_true(json_is_null(json_object_get(a, "campaign_id")));
    assert_int_equal(gw_test_jint_at(a, "rows_read"), 3);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 1);
    assert_int_equal(gw_test_jint_at(a, "rows_rejected"), 1);
    assert_int_equal(gw_test_jint_at(a, "rows_duplicate"), 1);
    json_decref(a);
    char *report = report_walk(f, g, NULL, 10);
    assert_string_equal(report, "3:rejected:phone: '212 555 O1OO' contains letters;"
                                "4:duplicate:+12125550120 is already on line 2 of this file;");
    free(report);
    assert_int_equal(
        sql_count(f->conn,
                  "SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone = '+12125550120' "
                  "AND campaign_id IS NULL AND source = 'upload' "
                  "AND reason = 'asked us'"),
        1);
    /* Again: already on the list, never an error. */
    a = upload_ok(f, "/api/v1/dnc/uploads", "text/csv", "phone\n2125550120\n");
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 0);
    assert_int_equal(gw_test_jint_at(a, "rows_duplicate"), 1);
    report = report_walk(f, gw_test_jint_at(a, "upload_id"), "duplicate", 10);
    assert_string_equal(report, "2:duplicate:+12125550120 is already on the DNC list;");
    free(report);
    json_decref(a);

    /* The campaign's own list and another campaign's. */
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/dnc/uploads", id);
    a = upload_ok(f, path, "text/csv", "phone\n2125550121\n(212) 555-0124\n");
    assert_int_equal(gw_test_jint_at(a, "campaign_id"), id);
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 2);
    json_decref(a);
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/dnc/uploads", other);
    json_decref(upload_ok(f, path, "text/csv", "phone\n2125550122\n"));
    assert_int_equal(request(f, "POST", "/api/v1/campaigns/999999/dnc/uploads", "text/csv",
                             "phone\n2125550123\n", NULL, NULL, &a, NULL, 0),
                     404);
    json_decref(a);

    /* Rows all of whose numbers are on a list that applies load closed. */
    a = upload_contacts(f, id, "text/csv",
                        "account_number,phone1,phone2\n"
                        "D1,2125550120,\n"           /* 2: global list: closed */
                        "D2,2125550121,2125550123\n" /* 3: one of two: queued */
                        "D3,+1 212 555 0124,\n"      /* 4: campaign's list: closed */
                        "D4,2125550122,\n");         /* 5: another campaign's list: queued */
    long long up = gw_test_jint_at(a, "upload_id");
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), 4);
    assert_int_equal(gw_test_jint_at(a, "rows_dnc"), 2);
    json_decref(a);
    expect_contact(f, up, 2, "D1|{+12125550120}|{fixed_line_or_mobile}|{\"\"}|closed|DNC");
    expect_contact(f, up, 3,
                   "D2|{+12125550121,+12125550123}|{fixed_line_or_mobile,fixed_line_or_mobile}|"
                   "{\"\",\"\"}|queued|-");
    expect_contact(f, up, 4, "D3|{+12125550124}|{fixed_line_or_mobile}|{\"\"}|closed|DNC");
    expect_contact(f, up, 5, "D4|{+12125550122}|{fixed_line_or_mobile}|{\"\"}|queued|-");
    report = report_walk(f, up, "dnc", 10);
    assert_string_equal(report, "2:dnc:on the DNC list: +12125550120;"
                                "4:dnc:on the DNC list: +12125550124;");
    free(report);
    char sql[256];
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM contacts WHERE upload_id = %lld AND state = 'closed' "
                   "AND closed_at IS NOT NULL",
                   up);
    assert_int_equal(sql_count(f->conn, sql), 2);
    /* A ContactClosed (DNC) for each closed row; the batch's one
     * ContactsUploaded lists the others (D2, D4) and only them. */
    gw_test_format(sql, sizeof(sql),
                   "SELECT id FROM contacts WHERE upload_id = %lld ORDER BY line_no", up);
    PGresult *r = ecm_test_pg_query(f->conn, "%s", sql);
    assert_int_equal(PQntuples(r), 4);
    long long ids[4];
    for (int i = 0; i < 4; i++) {
        ids[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        Ecm__V1__ContactClosed *ev = closed_event(f, ids[i]);
        if (i == 0 || i == 2) {
            assert_non_null(ev);
            assert_int_equal(ev->contact_id, ids[i]);
            assert_int_equal(ev->campaign_id, id);
            assert_int_equal(ev->outcome, ECM__V1__OUTCOME__OUTCOME_DNC);
            assert_int_equal(ev->attempts, 0);
            ecm__v1__contact_closed__free_unpacked(ev, NULL);
        } else {
            assert_null(ev);
        }
        assert_int_equal(events_keyed(f, "ecm.v1.ContactsUploaded", ids[i]), 0);
    }
    PQclear(r);
    uploaded_events uev;
    uploaded_events_get(f, id, up, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &uev);
    assert_int_equal(uev.n, 1);
    assert_int_equal(uev.ev[0]->n_contact_ids, 2);
    assert_int_equal(uev.ev[0]->contact_ids[0], ids[1]);
    assert_int_equal(uev.ev[0]->contact_ids[1], ids[3]);
    assert_int_equal(uev.ev[0]->first_line, 2);
    assert_int_equal(uev.ev[0]->last_line, 5);
    uploaded_events_destroy(&uev);

    /* A number joining the campaign's list closes the contact it leaves
     * with none off the lists (D2), at once. */
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/dnc/uploads", id);
    a = upload_ok(f, path, "text/csv", "phone\n+1 212 555 0123\n");
    assert_int_equal(gw_test_jint_at(a, "contacts_closed"), 1);
    json_decref(a);
    expect_contact(f, up, 3,
                   "D2|{+12125550121,+12125550123}|{fixed_line_or_mobile,fixed_line_or_mobile}|"
                   "{\"\",\"\"}|closed|DNC");
}

typedef struct {
    fixture *f;
    long long campaign;
    const char *csv;
    long long loaded, duplicate, upload_id;
} racer;

static void *race_upload(void *arg)
{
    racer *r = arg;
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", r->campaign);
    json_t *a = NULL;
    long st = request(r->f, "POST", path, "text/csv", r->csv, NULL, NULL, &a, NULL, 0);
    if (st == 202) {
        r->loaded = json_integer_value(json_object_get(a, "rows_loaded"));
        r->duplicate = json_integer_value(json_object_get(a, "rows_duplicate"));
        r->upload_id = json_integer_value(json_object_get(a, "upload_id"));
    } else {
        r->loaded = r->duplicate = r->upload_id = -1;
    }
    json_decref(a);
    return NULL;
}

static void test_api_concurrent_uploads_to_one_campaign_load_each_number_once(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Race");
    enum { ROWS = 3000 };
    size_t cap = 64 * (ROWS + 2), used = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    used += gw_test_format(csv, cap, "phone1\n");
    for (int i = 0; i < ROWS; i++) {
        used +=
            gw_test_format(csv + used, cap - used, "(718) %03d-%04d\n", 200 + i / 1000, i % 1000);
    }
    f->app.upload_batch = 250;
    racer r[2] = {{f, id, csv, 0, 0, 0}, {f, id, csv, 0, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, race_upload, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
    }
    f->app.upload_batch = 5000;
    assert_int_equal(r[0].loaded + r[1].loaded, ROWS);
    assert_int_equal(r[0].duplicate + r[1].duplicate, ROWS);
    char sql[256];
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE campaign_id = %lld", id);
    assert_int_equal(sql_count(f->conn, sql), ROWS);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(DISTINCT phones[1]) FROM contacts WHERE campaign_id = %lld", id);
    assert_int_equal(sql_count(f->conn, sql), ROWS);
    /* Each upload announces what it loaded, batch by batch (250 rows read
     * each, at most 12): between them, every contact once. */
    size_t listed = 0;
    for (int i = 0; i < 2; i++) {
        uploaded_events ev;
        uploaded_events_get(f, id, r[i].upload_id, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
        assert_true(ev.n <= ROWS / 250);
        for (size_t k = 0; k < ev.n; k++) {
            listed += ev.ev[k]->n_contact_ids;
        }
        uploaded_events_destroy(&ev);
    }
    assert_int_equal(listed, ROWS);
    free(csv);
}

/* A record the reader cannot get past (an unterminated quote) ends the
 * upload with 422, while batches before it are still loading on the loader
 * thread: every row before it is loaded and counted, the line is reported
 * and the upload reads 'failed'. */
static void test_api_upload_cut_short_by_the_reader_keeps_rows_before_it(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Cut short");
    enum { ROWS = 40 };
    size_t cap = 64 * ROWS + 512, used = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    used += gw_test_format(csv, cap, "account_number,phone1\n");
    for (int i = 0; i < ROWS; i++) {
        used += gw_test_format(csv + used, cap - used, "C%02d,(646) 555-%04d\n", i, 2000 + i);
    }
    used += gw_test_format(csv + used, cap - used, "\"C99,(646) 555-2999\n");
    for (int i = 0; i < 30; i++) {
        used += gw_test_format(csv + used, cap - used, "C%02d,unterminated quote\n", i);
    }
    f->app.upload_batch = 7;
    f->app.upload_max_record = 200;
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    json_t *a = NULL;
    long st = request(f, "POST", path, "text/csv", csv, NULL, NULL, &a, NULL, 0);
    f->app.upload_batch = 5000;
    f->app.upload_max_record = 65536;
    assert_int_equal(st, 422);
    const char *detail = gw_test_jstr(a, "detail");
    if (!strstr(detail, "40 rows before it were loaded")) {
        fail_msg("detail: %s", detail);
    }
    json_decref(a);
    char sql[256];
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE campaign_id = %lld", id);
    assert_int_equal(sql_count(f->conn, sql), ROWS);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM uploads WHERE campaign_id = %lld AND state = 'failed' "
                   "AND rows_loaded = %d AND rows_rejected = 1",
                   id, ROWS);
    assert_int_equal(sql_count(f->conn, sql), 1);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM upload_rows r JOIN uploads u ON u.id = r.upload_id "
                   "WHERE u.campaign_id = %lld AND r.line_no = %d AND r.kind = 'rejected'",
                   id, ROWS + 2);
    assert_int_equal(sql_count(f->conn, sql), 1);
    /* The 40 rows went in as batches of 7 read (the last one of 5): each
     * announced, the failed upload included. */
    gw_test_format(sql, sizeof(sql), "SELECT id FROM uploads WHERE campaign_id = %lld", id);
    uploaded_events ev;
    uploaded_events_get(f, id, sql_count(f->conn, sql), ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
    assert_int_equal(ev.n, (ROWS + 6) / 7);
    for (size_t i = 0; i < ev.n; i++) {
        assert_int_equal(ev.ev[i]->first_line, 2 + 7 * (long long)i);
        assert_int_equal(ev.ev[i]->n_contact_ids, i + 1 < ev.n ? 7 : ROWS % 7);
    }
    assert_int_equal(ev.ev[ev.n - 1]->last_line, ROWS + 1);
    uploaded_events_destroy(&ev);
    free(csv);
}

/* A file of rows numbers, one a row from (646) 555-3000 on; with
 * repeat_every, row i + 50 repeats row i for each i of 10, 10 +
 * repeat_every, ...: in batches of 50 each repeat lands in the batch after
 * the one that has its number first. */
static char *numbers_csv(int rows, int repeat_every)
{
    size_t cap = 32 * ((size_t)rows + 2), used = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    used += gw_test_format(csv, cap, "phone1\n");
    for (int i = 0; i < rows; i++) {
        int n = repeat_every > 0 && i >= 50 && (i - 50) % repeat_every == 10 ? i - 50 : i;
        used += gw_test_format(csv + used, cap - used, "(646) 555-%04d\n", 3000 + n);
    }
    return csv;
}

/* Two batches load at once (the next one's contacts are written while the
 * one before commits), but they commit in file order: when batch 6 of 12
 * cannot be loaded, no batch after it is in, whatever it had written, and
 * the checkpoint and counts stop at the last line of batch 5. */
static void test_api_upload_batches_commit_in_file_order_and_stop_at_a_failed_one(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "In order");
    enum { ROWS = 600, BATCH = 50, BAD = 275 };
    char *csv = numbers_csv(ROWS, 0);
    /* The database refuses row BAD's number (batch 6, rows 250-299). */
    char sql[512];
    gw_test_format(sql, sizeof(sql),
                   "CREATE FUNCTION test_refuse_number() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$; "
                   "CREATE TRIGGER test_refuse_number BEFORE INSERT ON contact_phones FOR EACH ROW "
                   "WHEN (NEW.phone = 1646555%04d) EXECUTE FUNCTION test_refuse_number()",
                   3000 + BAD);
    ecm_test_pg_exec(f->conn, "%s", sql);
    f->app.upload_batch = BATCH;
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    json_t *a = NULL;
    long st = request(f, "POST", path, "text/csv", csv, NULL, NULL, &a, NULL, 0);
    f->app.upload_batch = 5000;
    ecm_test_pg_exec(f->conn, "DROP TRIGGER test_refuse_number ON contact_phones; "
                              "DROP FUNCTION test_refuse_number()");
    assert_int_equal(st, 503);
    const char *detail = gw_test_jstr(a, "detail");
    if (!strstr(detail, "250 rows were loaded before")) {
        fail_msg("detail: %s", detail);
    }
    json_decref(a);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM contacts WHERE campaign_id = %lld AND line_no <= 251", id);
    assert_int_equal(sql_count(f->conn, sql), 250);
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE campaign_id = %lld", id);
    assert_int_equal(sql_count(f->conn, sql), 250);
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contact_phones WHERE campaign_id = %lld",
                   id);
    assert_int_equal(sql_count(f->conn, sql), 250);
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(*) FROM uploads WHERE campaign_id = %lld AND state = 'failed' "
                   "AND rows_loaded = 250 AND committed_line = 251",
                   id);
    assert_int_equal(sql_count(f->conn, sql), 1);
    /* Five batches announced, in order, and nothing after. */
    gw_test_format(sql, sizeof(sql), "SELECT id FROM uploads WHERE campaign_id = %lld", id);
    uploaded_events ev;
    uploaded_events_get(f, id, sql_count(f->conn, sql), ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, &ev);
    assert_int_equal(ev.n, 250 / BATCH);
    for (size_t i = 0; i < ev.n; i++) {
        assert_int_equal(ev.ev[i]->first_line, 2 + BATCH * (long long)i);
        assert_int_equal(ev.ev[i]->n_contact_ids, BATCH);
    }
    uploaded_events_destroy(&ev);
    free(csv);
}

/* A number again in the next batch, which loads beside the batch that has
 * it first: the batch is loaded again once the first one is in, and every
 * repeat is reported as a duplicate of its line; each number loads once. */
static void test_api_upload_repeat_in_the_next_batch_loaded_once(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Repeats");
    enum { ROWS = 600, BATCH = 50 };
    char *csv = numbers_csv(ROWS, 100);
    int repeats = 0;
    for (int i = 50; i < ROWS; i++) {
        repeats += (i - 50) % 100 == 10;
    }
    f->app.upload_batch = BATCH;
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    json_t *a = upload_ok(f, path, "text/csv", csv);
    f->app.upload_batch = 5000;
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), ROWS - repeats);
    assert_int_equal(gw_test_jint_at(a, "rows_duplicate"), repeats);
    long long up = gw_test_jint_at(a, "upload_id");
    json_decref(a);
    char *report = report_walk(f, up, "duplicate", 100);
    char want[2048];
    size_t used = 0;
    for (int i = 60; i < ROWS; i += 100) {
        used += gw_test_format(want + used, sizeof(want) - used,
                               "%d:duplicate:+1646555%04d is already on line %d of this file;",
                               i + 2, 3000 + i - 50, i - 50 + 2);
    }
    assert_string_equal(report, want);
    free(report);
    char sql[256];
    gw_test_format(sql, sizeof(sql),
                   "SELECT count(DISTINCT phones[1]) FROM contacts WHERE campaign_id = %lld", id);
    assert_int_equal(sql_count(f->conn, sql), ROWS - repeats);
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE campaign_id = %lld", id);
    assert_int_equal(sql_count(f->conn, sql), ROWS - repeats);
    free(csv);
}

/* One upload holds one extra connection fewer than it has batches loading:
 * two loading at once take one of the budget's two, and the one it holds
 * goes back as a batch is in (also when that batch ran on the upload's own
 * connection and the next one is still loading), so a second upload can
 * load two batches too. */
static void test_api_upload_takes_one_extra_connection_for_two_loaders(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Two loaders");
    enum { ROWS = 600, BATCH = 50 };
    char *csv = numbers_csv(ROWS, 0);
    gw_upload_limits *limits = gw_upload_limits_new(2, 2);
    assert_non_null(limits);
    gw_upload_limits_set_loaders(limits, 2);
    f->app.upload_limits = limits;
    f->app.upload_batch = BATCH;
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    json_t *a = upload_ok(f, path, "text/csv", csv);
    f->app.upload_batch = 5000;
    assert_int_equal(gw_test_jint_at(a, "rows_loaded"), ROWS);
    json_decref(a);
    for (int i = 0; i < 400 && gw_upload_limits_running(limits) != 0; i++) {
        usleep(50000);
    }
    assert_int_equal(gw_upload_limits_running(limits), 0);
    int peak = gw_upload_limits_loaders_peak(limits);
    int back = 0;
    while (gw_upload_limits_loader_take(limits)) {
        back++;
    }
    f->app.upload_limits = NULL;
    gw_upload_limits_destroy(limits);
    assert_int_equal(peak, 1);
    assert_int_equal(back, 2); /* every connection given back */
    char sql[160];
    gw_test_format(sql, sizeof(sql), "SELECT count(*) FROM contacts WHERE campaign_id = %lld", id);
    assert_int_equal(sql_count(f->conn, sql), ROWS);
    free(csv);
}

static void test_api_uploads_over_the_cap_get_429_and_a_busy_pool_503(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = voice_campaign(f, "Capped");
    char path[128], retry[16];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", id);
    const char *csv = "account_number,phone1\nA1,(646) 555-0101\n";

    /* One upload at a time, and one is under way. */
    gw_upload_limits *limits = gw_upload_limits_new(1, 2);
    assert_non_null(limits);
    f->app.upload_limits = limits;
    assert_int_equal(gw_upload_limits_enter(limits), 1);
    json_t *a = NULL;
    assert_int_equal(
        request_retry_after(f, "POST", path, "text/csv", csv, retry, sizeof(retry), &a), 429);
    assert_string_equal(gw_test_jstr(a, "type"), "https://ecm.dev/problems/too-many-uploads");
    assert_true(strtol(retry, NULL, 10) > 0);
    json_decref(a);
    assert_int_equal(gw_upload_limits_running(limits), 1);
    gw_upload_limits_leave(limits);
    assert_int_equal(
        request_retry_after(f, "POST", path, "text/csv", csv, retry, sizeof(retry), &a), 202);
    json_decref(a);
    /* The slot is given back with the upload, as it ends (which may be a
     * moment after its answer has gone out). */
    for (int i = 0; i < 400 && gw_upload_limits_running(limits) != 0; i++) {
        usleep(50000);
    }
    assert_int_equal(gw_upload_limits_running(limits), 0);
    f->app.upload_limits = NULL;
    gw_upload_limits_destroy(limits);

    /* Every pooled connection busy: 503 after the pool's wait, not a hang. */
    ecm_pg_pool_set_limits(f->pool, 200, 0);
    ecm_pg *held[4];
    for (int i = 0; i < 4; i++) {
        held[i] = ecm_pg_pool_get(f->pool);
        assert_non_null(held[i]);
    }
    assert_int_equal(
        request_retry_after(f, "GET", "/api/v1/campaigns", NULL, NULL, retry, sizeof(retry), &a),
        503);
    assert_string_equal(gw_test_jstr(a, "title"), "Database busy");
    assert_string_equal(retry, "1");
    json_decref(a);
    assert_int_equal(
        request_retry_after(f, "POST", path, "text/csv", csv, retry, sizeof(retry), &a), 503);
    json_decref(a);
    for (int i = 0; i < 4; i++) {
        ecm_pg_pool_put(f->pool, held[i]);
    }
    assert_int_equal(
        request_retry_after(f, "GET", "/api/v1/campaigns", NULL, NULL, retry, sizeof(retry), &a),
        200);
    json_decref(a);
    ecm_pg_pool_set_limits(f->pool, 0, 0);
}

/* setup_db, with campaign ids far from the first contacts' ids: the
 * events of a load are told apart by their keys (a campaign's or a
 * contact's id). */
static int setup_db_apart(void **state)
{
    setup_db(state);
    fixture *f = *state;
    if (f) {
        ecm_test_pg_exec(f->conn, "SELECT setval('campaigns_id_seq', 100000)");
    }
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    ecm_test_log_init("test_gw_upload_load", ECM_LOG_WARN);
    const struct CMUnitTest db[] = {
        cmocka_unit_test(test_api_dnc_lists_by_upload_and_dnc_rows_load_closed),
        cmocka_unit_test(test_api_concurrent_uploads_to_one_campaign_load_each_number_once),
        cmocka_unit_test(test_api_upload_cut_short_by_the_reader_keeps_rows_before_it),
        cmocka_unit_test(test_api_uploads_over_the_cap_get_429_and_a_busy_pool_503),
        cmocka_unit_test(test_api_upload_batches_commit_in_file_order_and_stop_at_a_failed_one),
        cmocka_unit_test(test_api_upload_repeat_in_the_next_batch_loaded_once),
        cmocka_unit_test(test_api_upload_takes_one_extra_connection_for_two_loaders),
    };
    int failed = cmocka_run_group_tests_name("db", db, setup_db_apart, gw_test_api_teardown);
    curl_global_cleanup();
    return failed;
}
