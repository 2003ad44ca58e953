-- A queue's throughput settings (docs/api.md, "Queue settings"): PUT /v1/queues/:queue/settings.
-- A queue without a row has the defaults. Kept apart from `queues` so that a settings write
-- never touches the queue's height sets; a deleted queue takes its row with it.
CREATE TABLE queue_settings (
  queue text PRIMARY KEY,
  priority integer NOT NULL DEFAULT 0,
  range_size integer NOT NULL DEFAULT 1,
  rate_per_second double precision,
  max_in_flight integer,
  updated_at timestamptz NOT NULL DEFAULT now()
);
