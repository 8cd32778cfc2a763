// #/campaigns/N/upload: send a contact file with a progress bar (bytes
// sent, then rows the server has read), then its report. #/uploads/N: an
// upload's report (counts, the rows not loaded with their line numbers and
// reasons, a CSV download); an interrupted upload offers Resume (the same
// file again, loading goes on after the last line loaded).
import { api, uploadFile, can } from './api.js';
import {
  h, pageTitle, field, button, busy, errorBox, ensureCss, notify, fmtNumber, fmtTime, table,
  badge, download, poll,
} from './ui.js';

const ROW_KINDS = {
  rejected: 'Not loaded: the row is not valid',
  duplicate: 'Not loaded: a number already in the campaign',
  dnc: 'Loaded, but every number is on a do-not-contact list',
};
const STATES = {
  running: ['Loading', 'active'],
  done: ['Done', 'ok'],
  failed: ['Failed', 'bad'],
  interrupted: ['Interrupted', 'warn'],
};
const SHOW_ROWS = 1000; // rows per page of the table; the download has them all

/* "1.2 MB" from bytes. */
function fmtBytes(n) {
  if (n < 1024) return `${fmtNumber(n)} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/* A CSV cell: quoted, and a text a spreadsheet would run as a formula is
 * made plain text with a leading ' (as the server's exports do). */
function csvCell(v) {
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return `"${s.replace(/"/g, '""')}"`;
}

/* A progress block: a labelled <progress> and a sentence; set(done, total,
 * text) moves it (total null: a bar without an end). */
function progressBlock(label) {
  const bar = h('progress', { max: '1', 'aria-label': label });
  const text = h('p', { 'aria-live': 'polite' });
  return {
    node: h('div', { class: 'upload-progress' }, h('p', { class: 'progress-label' }, label), bar, text),
    set(done, total, words) {
      if (total) {
        bar.max = total;
        bar.value = Math.min(done, total);
      } else {
        bar.removeAttribute('value');
      }
      text.textContent = words;
    },
  };
}

/* The content type to send a file with. */
function typeOf(file) {
  return /\.json$/i.test(file.name) || file.type === 'application/json' ? 'application/json' : 'text/csv';
}

/* Sends file to path with a progress block in holder: bytes while it goes
 * out, then the rows the server has read (the upload found by our
 * ECM-Upload-Ref, or uploadId when resuming one) until it answers. Returns
 * the answer (UploadAccepted); throws ApiError. */
async function send(holder, path, file, campaignId, ctx, uploadId = null) {
  const bytes = progressBlock('Sending the file');
  const rows = progressBlock('Reading the rows');
  rows.node.hidden = true;
  holder.replaceChildren(bytes.node, rows.node);
  // The upload is found by a reference of our own while its answer (with
  // its id) has not come: another upload to the campaign is never taken
  // for it.
  const ref = `console-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  let answered = false;
  let left = false;
  ctx.onLeave(() => { left = true; });
  const watch = async () => {
    while (!answered && !left) {
      {
        try {
          // One upload's counts (UploadCounts) carry the bytes in progress;
          // a list's items (UploadSummary) at the top.
          let mine = null;
          if (uploadId) {
            const u = await api('GET', `/api/v1/uploads/${uploadId}`);
            mine = { ...u, bytes_read: u.progress.bytes_read, bytes_total: u.progress.bytes_total };
          } else {
            mine = (await api('GET', `/api/v1/uploads?campaign_id=${campaignId}&client_ref=${ref}&limit=1`)).items[0];
          }
          if (mine && !answered) {
            rows.node.hidden = false;
            rows.set(mine.bytes_read, mine.bytes_total, `${fmtNumber(mine.rows_read)} rows read so far: `
              + `${fmtNumber(mine.rows_loaded)} loaded, ${fmtNumber(mine.rows_rejected + mine.rows_duplicate)} not loaded.`);
          }
        } catch {
          /* keep waiting for the answer */
        }
      }
      await new Promise(r => setTimeout(r, 1000));
    }
  };
  const watching = watch();
  try {
    return await uploadFile(path, file, {
      contentType: typeOf(file),
      headers: { 'ECM-Upload-Ref': ref },
      onProgress: (loaded, total) => {
        bytes.set(loaded, total, loaded >= total
          ? `All ${fmtBytes(total)} sent; the server is finishing the last rows…`
          : `${fmtBytes(loaded)} of ${fmtBytes(total)} sent (${Math.floor((loaded * 100) / (total || 1))}%).`);
      },
    });
  } finally {
    answered = true;
    await watching;
  }
}

/* The columns a contact file has, in plain words. */
function columnsHelp(campaign) {
  const fields = [];
  if (campaign.sms && campaign.sms.template) {
    for (const m of campaign.sms.template.matchAll(/\{([^{}]+)\}/g)) fields.push(m[1].trim());
  }
  const rows = [
    ['account_number', 'Your own reference for the contact (optional).'],
    ['first_name, last_name', 'The person’s name (optional).'],
    ['phone1 … phone10', 'Their numbers, first to try first; at least one. Written any way a person '
      + `writes a number in ${campaign.region} (e.g. (212) 555-0100), or with + and the country code.`],
    ['time_zone', 'The contact’s own time zone, e.g. America/Chicago (optional; else the campaign’s, '
      + `${campaign.time_zone}).`],
    ['any other column', 'Kept with the contact; a text message can use it as {column name}.'],
  ];
  return h('div', {},
    h('p', {}, 'A CSV file (as saved by a spreadsheet, UTF-8) whose first line names the columns:'),
    h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, h('code', {}, k)), h('dd', {}, v)])),
    fields.length ? h('p', {}, 'This campaign’s text uses ',
      [...new Set(fields)].map(f => h('code', {}, `{${f}}`)).flatMap((c, i) => (i ? [', ', c] : [c])),
      ': the file needs those columns.') : null,
    h('p', {}, 'Example first lines:'),
    h('pre', { class: 'example' }, 'account_number,first_name,last_name,phone1,phone2\n'
      + 'A-1001,Maria,Garcia,(212) 555-0142,\n'),
    h('p', { class: 'muted' }, 'Rows that cannot be loaded are listed afterwards with their line numbers and reasons; '
      + 'the good rows are loaded either way.'));
}

export async function render(view, ctx) {
  ensureCss('upload.css');
  ensureCss('campaign.css');
  if (location.hash.startsWith('#/uploads/')) return renderReport(view, ctx, ctx.params[0]);
  const cid = ctx.params[0];
  const campaign = await api('GET', `/api/v1/campaigns/${cid}`);
  pageTitle(view, `Upload contacts to “${campaign.name}”`,
    h('a', { class: 'btn', href: `#/campaigns/${cid}` }, 'Back to the campaign'));
  if (!can('supervisor')) {
    view.append(h('p', {}, 'Only a supervisor or an admin can upload contacts.'));
    return;
  }
  const file = h('input', { type: 'file', accept: '.csv,text/csv,.json,application/json', required: true });
  const problem = h('div', { id: 'upload-problem' });
  const progress = h('div', {});
  const go = button('Upload', null, { kind: 'primary', type: 'submit' });
  const form = h('form', { class: 'card', novalidate: true },
    h('h2', {}, 'Choose the file'),
    field('Contact file (CSV)', file, 'The file is read as it arrives; a large one takes a while.'),
    problem, h('div', { class: 'actions' }, go), progress);
  const interrupted = h('div', {});
  view.append(form, h('section', { class: 'card' }, h('h2', {}, 'What the file looks like'), columnsHelp(campaign)),
    interrupted);
  try {
    const cut = await api('GET', `/api/v1/uploads?campaign_id=${cid}&kind=contacts&state=interrupted&limit=20`);
    if (cut.items.length) {
      interrupted.replaceChildren(h('section', { class: 'card' }, h('h2', {}, 'Uploads that were cut off'),
        h('p', {}, 'These stopped part-way. Open one and choose the same file again to load the rest.'),
        h('ul', {}, cut.items.map(u => h('li', {}, h('a', { href: `#/uploads/${u.id}` },
          `Upload ${u.id}, started ${fmtTime(u.created_at)}: ${fmtNumber(u.rows_loaded)} rows loaded`))))));
    }
  } catch {
    /* only a help: the upload itself still works */
  }
  form.addEventListener('submit', e => {
    e.preventDefault();
    busy(go, async () => {
      problem.replaceChildren();
      file.removeAttribute('aria-invalid');
      const f = file.files[0];
      if (!f) {
        file.setAttribute('aria-invalid', 'true');
        file.setAttribute('aria-describedby', 'upload-problem');
        problem.append(h('p', { class: 'error', role: 'alert' }, 'Choose a file to upload first.'));
        file.focus();
        return;
      }
      file.disabled = true;
      try {
        const r = await send(progress, `/api/v1/campaigns/${cid}/uploads`, f, cid, ctx);
        notify(`File uploaded: ${fmtNumber(r.rows_loaded)} contacts loaded.`);
        ctx.go(`#/uploads/${r.upload_id}`);
      } catch (err) {
        progress.replaceChildren();
        problem.append(errorBox(err));
        if (err.status === 0) {
          problem.append(h('p', {}, 'If part of it was loaded, the campaign page lists the upload as interrupted: '
            + 'open it to resume with the same file.'));
        }
      } finally {
        file.disabled = false;
      }
    });
  });
}

/* Every row of the report, following next_cursor. Throws ApiError. */
async function allRows(uid) {
  const rows = [];
  let cursor = null;
  for (;;) {
    const r = await api('GET', `/api/v1/uploads/${uid}?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    rows.push(...r.rows);
    cursor = r.next_cursor;
    if (!cursor) return rows;
  }
}

/* One sentence on how the upload went. */
function summaryLine(rep, notLoaded) {
  const skipped = !notLoaded ? ''
    : notLoaded === 1 ? ' 1 row was not loaded; it is listed below with the reason.'
      : ` ${fmtNumber(notLoaded)} rows were not loaded; they are listed below with the reason.`;
  if (rep.state === 'running') return 'The file is still being read; these figures move as it goes.';
  if (rep.state === 'interrupted') {
    return `The upload was cut off before the end of the file: ${fmtNumber(rep.rows_loaded)} `
      + `${rep.rows_loaded === 1 ? 'row was' : 'rows were'} loaded.${skipped}`;
  }
  if (rep.state === 'failed') return `The upload failed.${skipped}`;
  return notLoaded === 0 ? 'Every row was loaded.' : skipped.trim();
}

async function renderReport(view, ctx, uid) {
  let rep = await api('GET', `/api/v1/uploads/${uid}?limit=${SHOW_ROWS}`);
  let campaign = null;
  if (rep.campaign_id) {
    try {
      campaign = await api('GET', `/api/v1/campaigns/${rep.campaign_id}`);
    } catch {
      campaign = null;
    }
  }
  pageTitle(view, `Upload ${uid} report`,
    campaign ? h('a', { class: 'btn', href: `#/campaigns/${campaign.id}` }, `Back to “${campaign.name}”`) : null);
  const body = h('div', {});
  view.append(body);
  let shown = rep.rows.slice();
  let cursor = rep.next_cursor;

  const draw = () => {
    const [word, kind] = STATES[rep.state] || [rep.state, 'plain'];
    const notLoaded = rep.rows_rejected + rep.rows_duplicate;
    const figures = h('dl', { class: 'facts upload-figures' },
      [['State', badge(word, kind)],
        ['Campaign', campaign ? h('a', { href: `#/campaigns/${campaign.id}` }, campaign.name) : (rep.campaign_id ? `Campaign ${rep.campaign_id}` : 'Global do-not-contact list')],
        ['Rows read', fmtNumber(rep.rows_read)],
        ['Loaded', fmtNumber(rep.rows_loaded)],
        ['Not valid', fmtNumber(rep.rows_rejected)],
        ['Duplicates', fmtNumber(rep.rows_duplicate)],
        ['Loaded but on a do-not-contact list', fmtNumber(rep.rows_dnc)],
        ['Started', fmtTime(rep.created_at)],
        ['Finished', rep.finished_at ? fmtTime(rep.finished_at) : (rep.state === 'running' ? 'Not yet' : 'No')],
        rep.resumes ? ['Resumed', rep.resumes === 1 ? 'once' : `${fmtNumber(rep.resumes)} times`] : null,
      ].filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    const parts = [h('section', { class: 'card' }, h('h2', {}, 'Summary'), figures,
      h('p', {}, summaryLine(rep, notLoaded)))];
    if (rep.state === 'running') {
      const p = progressBlock('Reading the file');
      p.set(rep.progress.bytes_read, rep.progress.bytes_total,
        `${fmtNumber(rep.rows_read)} rows read so far.`);
      parts.push(h('section', { class: 'card' }, p.node));
    }
    if (rep.state === 'interrupted') parts.push(resumeCard());
    if (rep.state === 'failed') {
      parts.push(h('div', { class: 'error', role: 'alert' }, 'This upload failed and nothing more will be read from it. '
        + 'Fix the file if the rows below say why, then upload it again.'));
    }
    const dl = button('Download report (CSV)', e => busy(e.currentTarget, async () => {
      try {
        const rows = await allRows(uid);
        const lines = ['"line","problem","reason"', ...rows.map(r => [r.line, ROW_KINDS[r.kind] || r.kind, r.reason].map(csvCell).join(','))];
        download(`upload-${uid}-report.csv`, `${lines.join('\r\n')}\r\n`);
        notify(`Report saved as upload-${uid}-report.csv (${fmtNumber(rows.length)} rows).`);
      } catch (err) {
        notify(err.detail || err.message, 'error');
      }
    }));
    const more = cursor ? button('Show more rows', e => busy(e.currentTarget, async () => {
      const r = await api('GET', `/api/v1/uploads/${uid}?limit=${SHOW_ROWS}&cursor=${cursor}`);
      shown = shown.concat(r.rows);
      cursor = r.next_cursor;
      draw();
    })) : null;
    parts.push(h('section', { class: 'card' }, h('h2', {}, 'Rows not loaded'),
      table([
        { title: 'Line', value: r => fmtNumber(r.line), class: 'num' },
        { title: 'Problem', value: r => ROW_KINDS[r.kind] || r.kind },
        { title: 'Reason', value: r => r.reason },
      ], shown, {
        caption: `Rows not loaded or not to be contacted, by line of the file (${fmtNumber(shown.length)} shown)`,
        empty: rep.state === 'done' ? 'None: every row was loaded.' : 'None so far.',
      }),
      h('div', { class: 'actions' }, more, dl)));
    body.replaceChildren(...parts);
  };

  function resumeCard() {
    const file = h('input', { type: 'file', accept: '.csv,text/csv,.json,application/json' });
    const problem = h('div', { id: 'resume-problem' });
    const progress = h('div', {});
    const go = button('Resume', null, { kind: 'primary', type: 'submit' });
    const form = h('form', { class: 'card', novalidate: true },
      h('h2', {}, 'Resume this upload'),
      h('p', {}, `It was cut off ${rep.interrupted_at ? fmtTime(rep.interrupted_at) : ''} after line `
        + `${fmtNumber(rep.committed_line)}. Choose the same file again: the lines already loaded are skipped and `
        + 'loading goes on from there.'),
      can('supervisor') ? [field('The same file', file), problem, h('div', { class: 'actions' }, go), progress]
        : h('p', { class: 'muted' }, 'A supervisor can resume it.'));
    form.addEventListener('submit', e => {
      e.preventDefault();
      busy(go, async () => {
        problem.replaceChildren();
        const f = file.files[0];
        if (!f) {
          file.setAttribute('aria-invalid', 'true');
          file.setAttribute('aria-describedby', 'resume-problem');
          problem.append(h('p', { class: 'error', role: 'alert' }, 'Choose the same file as before.'));
          file.focus();
          return;
        }
        try {
          await send(progress, `/api/v1/uploads/${uid}/resume`, f, rep.campaign_id, ctx, uid);
          notify('Upload resumed and finished.');
          rep = await api('GET', `/api/v1/uploads/${uid}?limit=${SHOW_ROWS}`);
          shown = rep.rows.slice();
          cursor = rep.next_cursor;
          draw();
        } catch (err) {
          progress.replaceChildren();
          problem.append(errorBox(err));
        }
      });
    });
    return form;
  }

  draw();
  if (rep.state === 'running') {
    let done = false;
    poll(ctx, async () => {
      if (done) return;
      rep = await api('GET', `/api/v1/uploads/${uid}?limit=${SHOW_ROWS}`);
      shown = rep.rows.slice();
      cursor = rep.next_cursor;
      draw();
      done = rep.state !== 'running';
    }, 2000);
  }
}
