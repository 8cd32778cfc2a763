// The console's one way to the gateway's API: JSON in and out, the session
// cookie (sent by the browser) and the CSRF token on every change.

let current = null; // {user, role, csrf_token, expires_at}
const RANK = { viewer: 1, supervisor: 2, admin: 3 };

export class ApiError extends Error {
  constructor(status, problem, fallback) {
    const p = problem && typeof problem === 'object' ? problem : {};
    const detail = p.detail || p.title || fallback || `The server answered ${status}.`;
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.title = p.title || '';
    this.detail = detail;
    this.field = p.field || (Array.isArray(p.errors) && p.errors[0] && p.errors[0].field) || '';
    this.body = problem;
  }
}

/** The signed-in user ({user, role, csrf_token}) or null. */
export function session() {
  return current;
}

export function setSession(s) {
  current = s;
}

/** True when the signed-in user's role is at least `role`. */
export function can(role) {
  return !!current && (RANK[current.role] || 0) >= (RANK[role] || 99);
}

function signedOut(path) {
  if (path.startsWith('/api/v1/session')) return;
  current = null;
  window.dispatchEvent(new CustomEvent('ecm:signed-out'));
}

async function readProblem(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.trim().slice(0, 300) || res.statusText };
  }
}

/** One API call; body (an object) goes as JSON. Returns the parsed answer
 *  (null for 204) or throws ApiError. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && current) {
    headers['X-CSRF-Token'] = current.csrf_token;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, null, 'The ECM server cannot be reached. Check the network and try again.');
  }
  if (res.status === 401) signedOut(path);
  if (!res.ok) throw new ApiError(res.status, await readProblem(res));
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  return type.includes('json') ? res.json() : res.text();
}

/** A text answer (a CSV export). Throws ApiError. */
export async function apiText(path) {
  let res;
  try {
    res = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, null, 'The ECM server cannot be reached. Check the network and try again.');
  }
  if (res.status === 401) signedOut(path);
  if (!res.ok) throw new ApiError(res.status, await readProblem(res));
  return res.text();
}

/** Sends a file as the body of a POST, reporting progress
 *  (onProgress(loaded, total)); headers: more request headers. Returns the
 *  parsed answer or throws ApiError. */
export function uploadFile(path, file, { contentType = 'text/csv', onProgress, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('Content-Type', contentType);
    xhr.setRequestHeader('Accept', 'application/json');
    if (current) xhr.setRequestHeader('X-CSRF-Token', current.csrf_token);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    if (onProgress) {
      xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
    }
    xhr.addEventListener('load', () => {
      let parsed = null;
      try {
        parsed = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        parsed = { detail: xhr.responseText.slice(0, 300) };
      }
      if (xhr.status === 401) signedOut(path);
      if (xhr.status >= 200 && xhr.status < 300) resolve(parsed);
      else reject(new ApiError(xhr.status, parsed));
    });
    xhr.addEventListener('error', () =>
      reject(new ApiError(0, null, 'The upload was cut off: the ECM server cannot be reached.')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, null, 'The upload was cancelled.')));
    xhr.send(file);
  });
}
