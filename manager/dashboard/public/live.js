// The live feed: Server-Sent Events from /v1/events (a snapshot a second). EventSource
// reconnects by itself after a dropped stream (a manager restart); after an HTTP error (401,
// 503) it gives up, so this probes the API (which asks for the token on 401) and reopens.
import { api, currentToken, tokenDeclined } from './api.js';

const MAX_BACKOFF_MS = 5_000;

/**
 * `onStatus` gets 'live', 'reconnecting' or 'token'. Returns `reopen()`, for after a new
 * token was entered.
 */
export function startLive({ onSnapshot, onStatus }) {
  let source;
  let timer;
  let backoffMs = 500;

  function open() {
    clearTimeout(timer);
    source?.close();
    const token = currentToken();
    source = new EventSource(`v1/events${token ? `?token=${encodeURIComponent(token)}` : ''}`);
    source.onopen = () => {
      backoffMs = 500;
      onStatus('live');
    };
    source.onmessage = (event) => {
      let snapshot;
      try {
        snapshot = JSON.parse(event.data);
      } catch {
        return;
      }
      onSnapshot(snapshot);
    };
    source.onerror = () => {
      onStatus('reconnecting');
      if (source.readyState === EventSource.CLOSED) void recover();
    };
  }

  async function recover() {
    let answered = false;
    try {
      await api('v1/workers');
      answered = true;
    } catch (error) {
      if (error.status === 401 || tokenDeclined()) {
        onStatus('token');
        return;
      }
    }
    timer = setTimeout(open, answered ? 100 : backoffMs);
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
  }

  open();
  return { reopen: open };
}
