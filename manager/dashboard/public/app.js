// The dashboard's entry: wires the live feed to the queue cards and the workers table
// (docs/dashboard.md). No framework, no build step: plain modules served by the manager.
import { askForToken, onTokenChange, tokenDeclined } from './api.js';
import { startLive } from './live.js';
import { QueueCard } from './queue-card.js';
import { WorkersTable } from './workers-table.js';

const byId = (id) => document.getElementById(id);
const template = byId('queue-template');
const queues = byId('queues');
const cards = new Map();
const workers = new WorkersTable(byId('workers'), byId('no-workers'));
const tokenButton = byId('token-button');

for (const origin of document.querySelectorAll('.origin')) origin.textContent = location.origin;

const STATUS_TEXT = {
  live: 'live',
  reconnecting: 'reconnecting…',
  token: 'API token needed',
};

function showStatus(status) {
  document.body.dataset.connection = status;
  byId('connection-text').textContent = STATUS_TEXT[status];
  tokenButton.hidden = status !== 'token' && !tokenDeclined();
}

function showSnapshot(snapshot) {
  const role = byId('role');
  role.textContent = snapshot.role === 'leader' ? '' : `manager is ${snapshot.role}`;
  const seen = new Set();
  for (const summary of snapshot.queues) {
    seen.add(summary.queue);
    let card = cards.get(summary.queue);
    if (!card) {
      card = new QueueCard(template, queues, summary.queue);
      cards.set(summary.queue, card);
    }
    card.update(summary, snapshot.at, snapshot.maps?.[summary.queue]);
  }
  for (const [name, card] of cards) {
    if (!seen.has(name)) {
      card.remove();
      cards.delete(name);
    }
  }
  byId('no-queues').hidden = cards.size > 0 || snapshot.role !== 'leader';
  workers.update(snapshot.workers, snapshot.at);
}

const live = startLive({ onSnapshot: showSnapshot, onStatus: showStatus });
tokenButton.addEventListener('click', () => {
  if (askForToken()) live.reopen();
});
onTokenChange(() => {
  tokenButton.hidden = !tokenDeclined();
});
