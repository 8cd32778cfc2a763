#include "sms_held.h"

#include <stdlib.h>
#include <string.h>

sms_item *sms_held_new(sms_sender *s, sms_item_kind kind, sms_lane *ln)
{
    sms_item *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->kind = kind;
    it->lane = ln;
    it->all_next = s->all;
    if (s->all)
        s->all->all_prev = it;
    s->all = it;
    s->nall++;
    return it;
}

void sms_held_destroy(sms_sender *s, sms_item *it)
{
    if (it->all_prev)
        it->all_prev->all_next = it->all_next;
    else
        s->all = it->all_next;
    if (it->all_next)
        it->all_next->all_prev = it->all_prev;
    s->nall--;
    free(it->phone);
    free(it->from);
    free(it->text);
    free(it);
}

int sms_held_set_text(sms_item *it, const char *phone, const char *from, char *text)
{
    ecm_sms_info info;
    if (ecm_sms_measure(text, &info) < 0) {
        free(text);
        return -1;
    }
    it->text = text;
    it->phone = strdup(phone);
    it->from = strdup(from ? from : "");
    it->encoding = info.encoding;
    it->segments = info.segments;
    return it->phone && it->from ? 0 : -1;
}

void sms_held_push_back(sms_lane *ln, sms_item *it)
{
    it->next = NULL;
    if (ln->wait_tail)
        ln->wait_tail->next = it;
    else
        ln->wait_head = it;
    ln->wait_tail = it;
    ln->nwait++;
}

void sms_held_push_front(sms_lane *ln, sms_item *it)
{
    it->next = ln->wait_head;
    ln->wait_head = it;
    if (!ln->wait_tail)
        ln->wait_tail = it;
    ln->nwait++;
}

sms_item *sms_held_pop(sms_lane *ln)
{
    sms_item *it = ln->wait_head;
    if (!it)
        return NULL;
    ln->wait_head = it->next;
    if (!ln->wait_head)
        ln->wait_tail = NULL;
    ln->nwait--;
    it->next = NULL;
    return it;
}

void sms_held_done(sms_sender *s, sms_item *it)
{
    it->next = NULL;
    if (s->done_tail)
        s->done_tail->next = it;
    else
        s->done_head = it;
    s->done_tail = it;
    s->ndone++;
}
