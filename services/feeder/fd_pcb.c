#include "fd_pcb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#include "ecm_zone.h"

int fd_pcb_logger_time(int64_t utc_ms, const char *zone, char out[FD_PCB_TIME_LEN + 1])
{
    int f[6];
    if (ecm_zone_utc_to_local(zone, utc_ms, f) != 0)
        return -1;
    char text[96];
    int w = snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d", f[0], f[1], f[2], f[3],
                     f[4], f[5]);
    if (w != FD_PCB_TIME_LEN)
        return -1;
    memcpy(out, text, FD_PCB_TIME_LEN + 1);
    return 0;
}

int fd_pcb_validate_zone(const char *zone, char *errstr, size_t errstr_size)
{
    return ecm_zone_validate(zone, errstr, errstr_size);
}

int64_t fd_pcb_callback_ms(int64_t at_ms, int64_t now_ms)
{
    return at_ms < now_ms - FD_PCB_LATE_MS ? now_ms : at_ms;
}

char *fd_pcb_build_body(const fd_pcb_record *r, size_t *len)
{
    char campaign[96], agent[96], max[16];
    snprintf(campaign, sizeof campaign, "/unifiedconfig/config/campaign/%s", r->campaign_id);
    snprintf(agent, sizeof agent, "/unifiedconfig/config/agent/%s", r->agent);
    snprintf(max, sizeof max, "%d", r->max_attempts);
    char *out = NULL;
    xmlBufferPtr xb = xmlBufferCreate();
    xmlTextWriterPtr w = xb ? xmlNewTextWriterMemory(xb, 0) : NULL;
    int bad = !w;
    bad = bad || xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
          xmlTextWriterStartElement(w, BAD_CAST "personalCallback") < 0 ||
          xmlTextWriterStartElement(w, BAD_CAST "campaign") < 0 ||
          xmlTextWriterWriteElement(w, BAD_CAST "refURL", BAD_CAST campaign) < 0 ||
          xmlTextWriterEndElement(w) < 0 || xmlTextWriterStartElement(w, BAD_CAST "agent") < 0 ||
          xmlTextWriterWriteElement(w, BAD_CAST "refURL", BAD_CAST agent) < 0 ||
          xmlTextWriterEndElement(w) < 0 ||
          xmlTextWriterWriteElement(w, BAD_CAST "phone", BAD_CAST r->phone) < 0 ||
          xmlTextWriterWriteElement(w, BAD_CAST "accountNumber", BAD_CAST r->account) < 0 ||
          xmlTextWriterWriteElement(w, BAD_CAST "maxAttempts", BAD_CAST max) < 0 ||
          xmlTextWriterWriteElement(w, BAD_CAST "callbackDateTime", BAD_CAST r->callback) < 0 ||
          xmlTextWriterWriteElement(w, BAD_CAST "firstName",
                                    BAD_CAST(r->first_name ? r->first_name : "")) < 0 ||
          xmlTextWriterWriteElement(w, BAD_CAST "lastName",
                                    BAD_CAST(r->last_name ? r->last_name : "")) < 0 ||
          xmlTextWriterEndElement(w) < 0 || xmlTextWriterEndDocument(w) < 0;
    if (w)
        xmlFreeTextWriter(w); /* flushes into xb */
    if (!bad) {
        size_t n = (size_t)xmlBufferLength(xb);
        out = malloc(n + 1);
        if (out) {
            memcpy(out, xmlBufferContent(xb), n);
            out[n] = '\0';
            if (len)
                *len = n;
        }
    }
    if (xb)
        xmlBufferFree(xb);
    return out;
}
