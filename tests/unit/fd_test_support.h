/* What the feeder's unit tests share: arming an fd_ctx with its metrics and
 * the dispatch gate, and releasing what it holds. */
#ifndef FD_TEST_SUPPORT_H
#define FD_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ecm_gate.h"
#include "ecm_metrics.h"
#include "fd_dispatch.h"
#include "fd_feeder.h"
#include "fd_writer.h"

/* The feeder's metrics in m and a gate with the default legal hours
 * (08:00-21:00) on ctx. Fails the test when the gate can't be made. */
static inline void fd_test_ctx_arm(fd_ctx *ctx, ecm_metrics *m)
{
    fd_metrics_init(&ctx->metrics, m);
    ecm_gate_config gcfg = {
        .topic_closed = "contacts.closed",
        .source = "/ecm/feeder",
        .metrics = m,
        .legal = {8 * 60, 21 * 60},
    };
    ctx->gate = ecm_gate_new(&gcfg);
    assert_non_null(ctx->gate);
}

/* Forgets ctx's pending batches and frees its writers and gate. */
static inline void fd_test_ctx_release(fd_ctx *ctx)
{
    fd_dispatch_forget(ctx);
    for (int k = 0; k < FD_KIND_N; k++) {
        fd_writer_destroy(ctx->writers[k]);
        ctx->writers[k] = NULL;
    }
    ecm_gate_destroy(ctx->gate);
    ctx->gate = NULL;
}

#endif
