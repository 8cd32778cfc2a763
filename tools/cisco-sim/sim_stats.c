#include "sim_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The per-interface and refusal members of the answer. */
static json_t *stats_interfaces(const sim_stats *st, json_t **refusals)
{
    json_t *ifs = json_object();
    *refusals = json_object();
    for (int i = 0; i < SIM_IF_N; i++) {
        json_object_set_new(ifs, sim_iface_name((sim_iface)i),
                            json_pack("{sI sI sI}", "received_rows",
                                      (json_int_t)st->iface[i].received_rows, "duplicate_accounts",
                                      (json_int_t)st->iface[i].duplicate_accounts, "dialed",
                                      (json_int_t)st->iface[i].dialed));
    }
    for (int k = 0; k < st->nrefusals; k++) {
        json_t *o = json_object_get(*refusals, st->refusals[k].iface);
        if (!o) {
            o = json_object();
            json_object_set_new(*refusals, st->refusals[k].iface, o);
        }
        json_object_set_new(o, st->refusals[k].reason, json_integer(st->refusals[k].n));
    }
    return ifs;
}

static void stats_get(void *ctx, ecm_http_req *req)
{
    sim_stats st;
    if (sim_store_stats(ctx, &st) != 0) {
        ecm_http_respond_problem(req, 503, "sim-db-unavailable", "Sim database unavailable",
                                 "the counters could not be read");
        return;
    }
    json_t *by = json_object();
    for (int c = 0; c < SIM_STATS_MAX_CODES; c++) {
        if (st.by_call_result[c] > 0) {
            char key[12];
            snprintf(key, sizeof key, "%d", c);
            json_object_set_new(by, key, json_integer(st.by_call_result[c]));
        }
    }
    json_t *refusals = NULL;
    json_t *ifs = stats_interfaces(&st, &refusals);
    json_t *pcb = json_pack("{sI sI sI sI}", "rows", (json_int_t)st.pcb_rows, "pending",
                            (json_int_t)st.pcb_pending, "dialed", (json_int_t)st.pcb_dialed,
                            "duplicate_accounts", (json_int_t)st.pcb_duplicate_accounts);
    json_t *o = json_pack(
        "{sI sI sI sI sI sI sI sI sI so so so so}", "received_rows", (json_int_t)st.received_rows,
        "unique_accounts", (json_int_t)st.unique_accounts, "duplicate_accounts",
        (json_int_t)st.duplicate_accounts, "duplicate_receipts", (json_int_t)st.duplicate_receipts,
        "dialed", (json_int_t)st.dialed, "pending", (json_int_t)st.pending, "imports",
        (json_int_t)st.imports, "over_capacity_rejections", (json_int_t)st.over_capacity_rejections,
        "phone_duplicates", (json_int_t)st.phone_duplicates, "by_call_result", by, "interfaces",
        ifs, "refusals", refusals, "personal_callbacks", pcb);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (!text) {
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
    } else {
        ecm_http_respond(req, 200, "application/json", text, strlen(text));
    }
    free(text);
    json_decref(o);
}

int sim_stats_add_route(ecm_http *h, sim_store *store)
{
    return ecm_http_route(h, "GET", "/sim/stats", 0, stats_get, store);
}
