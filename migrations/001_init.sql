-- Queues keep their heights as ranges: enqueuing 0..100,000,000 is one small write, and the
-- size of a row grows with the number of gaps, not of heights (docs/architecture.md, "Store").
CREATE TABLE queues (
  name text PRIMARY KEY,
  -- every height ever enqueued
  enqueued int8multirange NOT NULL DEFAULT '{}',
  -- heights whose handler succeeded and whose result was committed; always within enqueued
  done int8multirange NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per height that failed at least once and is not done: retrying, or dead-lettered
-- once failed is true.
CREATE TABLE height_attempts (
  queue text NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
  height bigint NOT NULL,
  attempts integer NOT NULL,
  last_error text NOT NULL,
  next_attempt_at timestamptz NOT NULL,
  failed boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, height)
);
