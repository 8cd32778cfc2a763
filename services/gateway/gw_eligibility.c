#include "gw_eligibility.h"

#include "ecm_clock.h"
#include "ecm_eligibility.h"
#include "ecm_pg.h"
#include "gw_json.h"

static void get_eligibility(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id;
    if (gw_path_id(req, "contact", &id) != 0) {
        return;
    }
    ecm_eligibility_config cfg = {
        .legal = app->legal ? *app->legal : (ecm_legal_hours){8 * 60, 21 * 60},
        .voice_margin_ms = app->voice_margin_ms > 0   ? app->voice_margin_ms
                           : app->voice_margin_ms < 0 ? 0
                                                      : GW_ELIGIBILITY_VOICE_MARGIN_S * 1000LL,
        .sms_margin_ms = 0,
    };
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    ecm_eligibility *e = NULL;
    int rc = ecm_eligibility_explain(pg, &cfg, id, ecm_clock_now_ms(), &e);
    if (rc < 0) {
        gw_respond_db_down(req, pg, "explain the contact");
    } else if (rc == 1) {
        ecm_http_respond_problem(req, 404, "not-found", "No such contact",
                                 "contact %lld does not exist", id);
    } else {
        /* NULL (out of memory) answers 500. */
        gw_json_respond(req, 200, ecm_eligibility_json(e));
    }
    ecm_eligibility_destroy(e);
    ecm_pg_pool_put(app->pool, pg);
}

int gw_eligibility_register(ecm_http *h, const gw_app *app)
{
    return ecm_http_route(h, "GET", "/api/v1/contacts/{}/eligibility", 0, get_eligibility,
                          (void *)app);
}
