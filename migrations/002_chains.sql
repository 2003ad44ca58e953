-- Chains (docs/chains.md): a queue's source, its head, the block hashes kept for heights above
-- head - finality, and its reorganisations. A queue may also be paused, with the reason shown.
ALTER TABLE queues
  ADD COLUMN paused_reason text,
  -- the newest head seen (from the source or pushed), and its hash when known
  ADD COLUMN head bigint,
  ADD COLUMN head_hash text;

CREATE TABLE queue_sources (
  queue text PRIMARY KEY REFERENCES queues (name) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('evm', 'push')),
  url text,
  from_height bigint NOT NULL,
  confirmations integer NOT NULL,
  finality integer NOT NULL,
  poll_ms integer NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per height above head - finality whose handler reported its block's hashes.
CREATE TABLE block_hashes (
  queue text NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
  height bigint NOT NULL,
  hash text NOT NULL,
  parent_hash text NOT NULL,
  PRIMARY KEY (queue, height)
);

CREATE TABLE reorgs (
  queue text NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
  id bigint NOT NULL,
  detected_at timestamptz NOT NULL,
  fork_height bigint NOT NULL,
  depth bigint NOT NULL,
  old_hash text,
  new_hash text,
  revert_from bigint NOT NULL,
  revert_to bigint NOT NULL,
  -- null while the handlers' revert of the orphaned range is still due
  reverted_at timestamptz,
  PRIMARY KEY (queue, id)
);
