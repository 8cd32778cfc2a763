#include "sms_lease.h"

#include <stdio.h>

#include "ecm_pgarray.h"

static const char LEASE_SQL[] = "UPDATE attempts SET sending_at = now() "
                                "WHERE message_id = ANY($1::text[]) AND status = 'sending'";
static const char LEASE_SYSTEM_SQL[] = "UPDATE sms_system_messages SET sent_at = now() "
                                       "WHERE message_id = ANY($1::text[]) AND state = 'sending'";

/* A lease aged to the longest wait of any lane: taken over by the next
 * recovery pass of any sender. */
static const char RELEASE_SQL[] =
    "UPDATE attempts SET sending_at = now() - $2::int * interval '1 second' "
    "WHERE message_id = ANY($1::text[]) AND status = 'sending'";
static const char RELEASE_SYSTEM_SQL[] =
    "UPDATE sms_system_messages SET sent_at = now() - $2::int * interval '1 second' "
    "WHERE message_id = ANY($1::text[]) AND state = 'sending'";

int sms_lease_release_unsent(sms_sender *s)
{
    ecm_pgarr c, y;
    ecm_pgarr_init(&c);
    ecm_pgarr_init(&y);
    for (size_t i = 0; i < s->nlanes; i++) {
        for (sms_item *it = s->lanes[i].wait_head; it; it = it->next) {
            if (it->tries == 0) /* never submitted by this process */
                ecm_pgarr_add_str(it->kind == SMS_ITEM_SYSTEM ? &y : &c, it->message_id);
        }
    }
    int nc = c.n, ny = y.n;
    char age[24];
    int age_ok = (size_t)snprintf(age, sizeof age, "%ld", s->cfg.resend_after_s) < sizeof age;
    const char *pc[2] = {ecm_pgarr_finish(&c), age}, *py[2] = {ecm_pgarr_finish(&y), age};
    int rc = age_ok && pc[0] && py[0] ? 0 : -1;
    if (rc == 0 && nc > 0 && ecm_pg_cmd(s->pg, RELEASE_SQL, 2, pc) < 0)
        rc = -1;
    if (rc == 0 && ny > 0 && ecm_pg_cmd(s->pg, RELEASE_SYSTEM_SQL, 2, py) < 0)
        rc = -1;
    if (rc < 0)
        ecm_pg_check_broken(s->pg);
    ecm_pgarr_destroy(&c);
    ecm_pgarr_destroy(&y);
    return rc < 0 ? -1 : nc + ny;
}

int sms_lease_renew(sms_sender *s)
{
    if (!s->all)
        return 0;
    ecm_pgarr c, y;
    ecm_pgarr_init(&c);
    ecm_pgarr_init(&y);
    for (sms_item *it = s->all; it; it = it->all_next)
        ecm_pgarr_add_str(it->kind == SMS_ITEM_SYSTEM ? &y : &c, it->message_id);
    int nc = c.n, ny = y.n;
    const char *pc = ecm_pgarr_finish(&c), *py = ecm_pgarr_finish(&y);
    int rc = pc && py ? 0 : -1;
    if (rc == 0 && nc > 0 && ecm_pg_cmd(s->pg, LEASE_SQL, 1, &pc) < 0)
        rc = -1;
    if (rc == 0 && ny > 0 && ecm_pg_cmd(s->pg, LEASE_SYSTEM_SQL, 1, &py) < 0)
        rc = -1;
    if (rc < 0)
        ecm_pg_check_broken(s->pg);
    ecm_pgarr_destroy(&c);
    ecm_pgarr_destroy(&y);
    return rc;
}
